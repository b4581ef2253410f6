"""The paid prediction API (FastAPI): only the released model is served, every answered call is billed.

``POST /v1/predict`` takes an API key (``X-API-Key`` header or ``Authorization: Bearer``) and one row or a
batch; the price is per row, read from the policy source (the chain) when the app starts; the call is debited
in the usage store *before* the answer is computed and returned, in the same committed transaction as its
usage row (group-committed with concurrent calls, see ``billing``).
Errors: 401 unknown key, 402 not enough credit, 422 malformed input (FastAPI names the field). A client that
sends an ``Idempotency-Key`` header may retry a call whose answer it lost: it is answered again, billed once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from fastapi import FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field, field_validator

from fairshare.errors import ServingError
from fairshare.learning.model import LogisticRegression, Params
from fairshare.serving.billing import BillingQueue
from fairshare.serving.dashboard import dashboard_router
from fairshare.serving.metrics import Metrics, TimingMiddleware
from fairshare.serving.store import OutOfCredit, UnknownKey, UsageStore

__all__ = ["PredictRequest", "PredictResponse", "ReleasedModel", "create_app"]

MAX_ROWS = 1000


@dataclass(frozen=True)
class ReleasedModel:
    model: LogisticRegression
    params: Params
    model_hash: str
    feature_names: tuple[str, ...] = ()


class PredictRequest(BaseModel):
    rows: list[list[float]] = Field(min_length=1, max_length=MAX_ROWS, description="Feature rows (standardised).")

    @field_validator("rows")
    @classmethod
    def _finite(cls, rows: list[list[float]]) -> list[list[float]]:
        for i, row in enumerate(rows):
            if not all(math.isfinite(v) for v in row):
                raise ValueError(f"row {i} has a NaN or infinite value")
        return rows


class PredictResponse(BaseModel):
    model_hash: str
    predictions: list[int]
    probabilities: list[list[float]]
    charged: int
    credit_left: int


def _api_key(x_api_key: str | None, authorization: str | None) -> str:
    if x_api_key:
        return x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    raise HTTPException(status_code=401, detail="missing API key: send X-API-Key or Authorization: Bearer <key>")


def create_app(
    store: UsageStore,
    released: ReleasedModel,
    price_per_row: Callable[[], int],
    metering: bool = True,
    pending: Callable[[], int] | None = None,
    dashboard: Callable[[], dict[str, object]] | None = None,
) -> FastAPI:
    app = FastAPI(
        title="fairshare model API",
        description="Predictions from the consortium's released model; every row is billed and its revenue "
        "is split on chain among the members who trained it.",
        version="1",
    )
    metrics = Metrics()
    price = price_per_row()
    billing = BillingQueue(store)
    n_features = released.model.n_features

    app.add_middleware(TimingMiddleware, metrics=metrics)

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        responses={401: {"description": "Unknown API key"}, 402: {"description": "Not enough credit"}},
    )
    async def predict(
        body: PredictRequest,
        x_api_key: str | None = Header(default=None),
        authorization: str | None = Header(default=None),
        idempotency_key: str | None = Header(default=None, max_length=128),
    ) -> PredictResponse:
        key = _api_key(x_api_key, authorization)
        widths = {len(r) for r in body.rows}
        if widths != {n_features}:
            raise HTTPException(
                status_code=422,
                detail=[
                    {"loc": ["body", "rows"], "msg": f"each row needs {n_features} features; got {sorted(widths)}"}
                ],
            )
        credit_left = -1
        if metering:
            try:
                credit_left = await billing.debit(key, len(body.rows), price, released.model_hash, idempotency_key)
            except UnknownKey as exc:
                raise HTTPException(status_code=401, detail=str(exc)) from exc
            except OutOfCredit as exc:
                raise HTTPException(status_code=402, detail=str(exc)) from exc
            except ServingError as exc:  # the usage store failed: nothing was billed, so nothing is answered
                raise HTTPException(status_code=503, detail=f"billing unavailable, retry: {exc}") from exc
            metrics.revenue += len(body.rows) * price
        X = np.asarray(body.rows, dtype=np.float64)
        probs = released.model.predict_proba(released.params, X)
        return PredictResponse(
            model_hash=released.model_hash,
            predictions=probs.argmax(axis=1).tolist(),
            probabilities=probs.round(6).tolist(),
            charged=len(body.rows) * price if metering else 0,
            credit_left=credit_left,
        )

    @app.get("/v1/model")
    def model_info() -> dict[str, object]:
        return {
            "model_hash": released.model_hash,
            "features": n_features,
            "classes": released.model.n_classes,
            "price_per_row": price,
        }

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus() -> str:
        return metrics.render(pending() if pending is not None else None)

    if dashboard is not None:
        app.include_router(dashboard_router(dashboard))

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(status_code=exc.status_code, content={"detail": exc.detail})

    return app
