"""The paid prediction API (FastAPI): only the released model is served, every answered call is billed.

``POST /v1/predict`` takes an API key (``X-API-Key`` header or ``Authorization: Bearer``) and one row or a
batch; the price is per row, read from the policy source (the chain) when the app starts. A call is answered
only after its debit and usage row are committed (group-committed with concurrent calls, see ``billing``),
and the answer is computed *before* the debit: a call the model cannot answer (a non-finite output) is
refused with 422 and never billed, and "answered" still implies "billed".

A client that sends an ``Idempotency-Key`` may retry a call whose answer it lost: the same request under
the same key is answered again and billed once (``replayed: true``, ``charged: 0``); a different request
under a used key is refused with 409. Errors and their statuses: ``http_errors``. Until a model is released
every paid call answers 503 with the reason (the dashboard serves meanwhile).

Credit is bought on chain, in the CreditVault: ``credit_sync`` (called every ``sync_seconds`` in a
background thread while the app runs; the caller syncs once before starting it) brings the vault's
deposits and refund requests into the usage store. Every billed answer carries a receipt signed by the
operator's key (``receipts``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import numpy as np
from fastapi import FastAPI, Header, Security
from fastapi.responses import Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from fairshare.serving.billing import BillingQueue
from fairshare.serving.charges import Call, Debit, UnknownKey
from fairshare.serving.dashboard import dashboard_router
from fairshare.serving.docs import docs_router
from fairshare.serving.http_errors import install_error_handlers, invalid
from fairshare.serving.metrics import CONTENT_TYPE, Metrics, TimingMiddleware
from fairshare.serving.receipting import Receipting
from fairshare.serving.released import ModelSource, ReleasedModel
from fairshare.serving.schemas import (
    ModelInfo,
    PredictRequest,
    PredictResponse,
    SignedReceiptOut,
    error_responses,
    with_row_length,
)
from fairshare.serving.store import UsageStore

__all__ = ["create_app"]

TITLE = "fairshare model API"

api_key_header = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="An API key (fsk_<id>_<secret>).", auto_error=False
)
bearer = HTTPBearer(scheme_name="Bearer", description="The same API key as a bearer token.", auto_error=False)


def create_app(
    store: UsageStore,
    released: ReleasedModel | Callable[[], ReleasedModel],
    price_per_row: Callable[[], int],
    metering: bool = True,
    dashboard: Callable[[], dict[str, object]] | None = None,
    receipts: Receipting | None = None,
    credit_sync: Callable[[], object] | None = None,
    sync_seconds: float = 2.0,
) -> FastAPI:
    """The API over ``store``; ``released`` is the model, or a loader asked until it returns one."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        if credit_sync is not None:
            thread = threading.Thread(target=_sync_loop, args=(credit_sync, stop, sync_seconds), daemon=True)
            thread.start()
        yield
        stop.set()

    app = FastAPI(
        lifespan=lifespan,
        title=TITLE,
        description="Predictions from the consortium's released model; every row is billed and its revenue "
        "is split on chain among the members who trained it.",
        version="1",
        docs_url=None,
        redoc_url=None,
    )
    models = ModelSource(released)
    price = price_per_row()
    billing = BillingQueue(store, receipts=receipts)
    metrics = Metrics(store, queue_depth=lambda: billing.depth)
    billing.observer = metrics
    app.add_middleware(TimingMiddleware, metrics=metrics)
    install_error_handlers(app)

    @app.post("/v1/predict", response_model=PredictResponse, responses=error_responses(400, 401, 402, 409, 503))
    async def predict(
        body: PredictRequest,
        x_api_key: Annotated[str | None, Security(api_key_header)] = None,
        authorization: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
        idempotency_key: Annotated[
            str | None,
            Header(min_length=1, max_length=128, description="Retry a call without paying twice (same rows)."),
        ] = None,
    ) -> PredictResponse:
        key = x_api_key or (authorization.credentials if authorization else None)
        if not key:
            raise UnknownKey("missing API key: send X-API-Key or Authorization: Bearer <key>")
        served = models.get()
        n_features = served.model.n_features
        for i, row in enumerate(body.rows):
            if len(row) != n_features:
                raise invalid(("body", "rows", i), f"has {len(row)} values; the model takes {n_features}", "row_length")
        X = np.asarray(body.rows, dtype=np.float64)
        with np.errstate(all="ignore"):  # a non-finite output is refused below, not warned about
            probs = served.model.predict_proba(served.params, X)
        finite = np.isfinite(probs).all(axis=1)
        if not finite.all():
            row = int(np.argmin(finite))
            raise invalid(("body", "rows", row), "the model's output for this row is not finite", "non_finite_output")
        debit = Debit(credit_left=-1, charged=0)
        if metering:
            digest = _digest(X) if idempotency_key is not None else b""
            debit = await billing.debit(Call(key, len(body.rows), price, served.model_hash, idempotency_key, digest))
        return PredictResponse(
            model_hash=served.model_hash,
            predictions=probs.argmax(axis=1).tolist(),
            probabilities=probs.round(6).tolist(),
            charged=debit.charged,
            credit_left=debit.credit_left,
            replayed=debit.replayed,
            receipt=SignedReceiptOut(**debit.receipt.to_json()) if debit.receipt is not None else None,
        )

    @app.get("/v1/model", response_model=ModelInfo, responses=error_responses(503))
    def model_info() -> ModelInfo:
        served = models.get()
        return ModelInfo(
            model_hash=served.model_hash,
            features=served.model.n_features,
            classes=served.model.n_classes,
            price_per_row=price,
        )

    @app.get(
        "/metrics",
        response_class=Response,
        responses={
            200: {"description": "Prometheus text format.", "content": {"text/plain": {"schema": {"type": "string"}}}}
        },
    )
    def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    app.include_router(docs_router(TITLE))
    if dashboard is not None:
        app.include_router(dashboard_router(dashboard))

    spec: dict[str, object] = {}

    def openapi() -> dict[str, object]:
        """FastAPI's spec, with the row length of the released model once it is known."""
        current = models.current
        features = current.model.n_features if current is not None else None
        if spec.get("features", -1) != features:
            app.openapi_schema = None
            base = FastAPI.openapi(app)
            spec["features"], spec["value"] = features, (with_row_length(base, features) if features else base)
        return spec["value"]  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _sync_loop(sync: Callable[[], object], stop: threading.Event, seconds: float) -> None:
    """Bring the vault's deposits in every ``seconds``; a failed read is retried next time (the chain may be
    briefly unreachable), and the credit keys already have stays as it was."""
    while not stop.wait(seconds):
        try:
            sync()
        except Exception:  # a background refresh must never stop the API
            continue


def _digest(X: np.ndarray) -> bytes:
    """The canonical request body: its shape and its values as float64 (``1`` and ``1.0`` are one request)."""
    return hashlib.sha256(np.asarray(X.shape, dtype=np.int64).tobytes() + X.tobytes()).digest()
