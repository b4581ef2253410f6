"""Every error the API answers, mapped to its HTTP status in one place.

- our exceptions: ``UnknownKey`` 401, ``OutOfCredit`` 402, ``IdempotencyConflict`` 409, ``NotReleased`` 503,
  any other ``ServingError`` (the usage store failed: nothing was billed, so nothing is answered) 503;
  their body is ``{"detail": "<what to fix>"}``;
- request validation: 422 in FastAPI's shape (``{"detail": [{"loc", "msg", "type"}]}``), with the row and
  column named in the message and without the offending input echoed back. Echoing it made a ``NaN`` in a
  row a 500: the error body itself was not valid JSON;
- ``HTTPException`` (400 for a body that is not JSON, 404, 405 from routing): its headers (``Allow``) are kept.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fairshare.errors import ServingError
from fairshare.serving.charges import IdempotencyConflict, OutOfCredit, UnknownKey

__all__ = ["NotReleased", "install_error_handlers", "invalid"]


class NotReleased(ServingError):
    """No model is released (yet): the paid API has nothing to serve."""


STATUS: tuple[tuple[type[ServingError], int], ...] = (
    (UnknownKey, 401),
    (OutOfCredit, 402),
    (IdempotencyConflict, 409),
    (NotReleased, 503),
)


def invalid(loc: tuple[str | int, ...], msg: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 for a check the schema cannot express in pydantic (row length, model outputs)."""
    return RequestValidationError([{"loc": loc, "msg": msg, "type": kind}])


def _row_message(error: dict[str, Any]) -> dict[str, Any]:
    loc = tuple(error.get("loc", ()))
    msg = str(error.get("msg", "invalid"))
    if loc[:2] == ("body", "rows") and len(loc) >= 3:
        where = f"row {loc[2]}" + (f", column {loc[3]}" if len(loc) >= 4 else "")
        msg = f"{where}: {msg}"
    return {"loc": list(loc), "msg": msg, "type": str(error.get("type", "value_error"))}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServingError)
    async def _serving(_request: Request, exc: ServingError) -> JSONResponse:
        status = next((code for kind, code in STATUS if isinstance(exc, kind)), 503)
        detail = str(exc) if status != 503 or isinstance(exc, NotReleased) else f"billing unavailable, retry: {exc}"
        headers = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'} if status == 401 else None
        return JSONResponse(status_code=status, content={"detail": detail}, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(status_code=422, content={"detail": [_row_message(e) for e in exc.errors()]})

    @app.exception_handler(HTTPException)
    async def _http(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers)
