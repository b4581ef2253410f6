"""What the paid API accepts and answers, as pydantic models (and so as the OpenAPI spec says).

A row is ``n_features`` finite numbers of at most ``MAX_ABS_VALUE`` in size: the served models take
standardised features, so a value a million standard deviations out is an input error, and the bound keeps
every answer finite (a row of 1e308 overflowed the logits into NaN probabilities). The row length depends on
the released model, so it is written into the spec by ``with_row_length`` once the model is known.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any

from pydantic import BaseModel, Field

__all__ = [
    "MAX_ABS_VALUE",
    "MAX_ROWS",
    "ErrorMessage",
    "ModelInfo",
    "PredictRequest",
    "PredictResponse",
    "SignedReceiptOut",
    "error_responses",
    "with_row_length",
]

MAX_ROWS = 1000
MAX_ABS_VALUE = 1e6

Value = Annotated[float, Field(strict=True, allow_inf_nan=False, ge=-MAX_ABS_VALUE, le=MAX_ABS_VALUE)]


class PredictRequest(BaseModel):
    rows: list[list[Value]] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="Feature rows (standardised), each exactly as long as the model's feature count.",
    )


class SignedReceiptOut(BaseModel):
    """The operator's signed receipt for a billed call; ``fairshare customer verify`` checks it.

    ``key`` is keccak256("fairshare:api-key:<key id>"), ``total`` the running total billed to the key after
    this call, ``model`` the model hash; ``batch_proof`` folds the receipt's EIP-712 struct hash to the root
    the operator signed (``signature``, EIP-712 ``ReceiptBatch(bytes32 root)`` under the CreditVault's
    domain at ``vault`` on chain ``chain_id``). Amounts are decimal strings in the smallest unit.
    """

    key: str
    request: str
    rows: int
    amount: str
    total: str
    model: str
    batch_proof: list[str]
    signature: str
    chain_id: int
    vault: str


class PredictResponse(BaseModel):
    model_hash: str
    predictions: list[int]
    probabilities: list[list[float]]
    charged: int = Field(description="What this call debited (smallest unit); 0 when it replays a billed call.")
    credit_left: int = Field(description="The key's credit after this call; -1 when metering is off.")
    replayed: bool = Field(
        default=False, description="True when the Idempotency-Key's call was billed before and is answered again."
    )
    receipt: SignedReceiptOut | None = Field(
        default=None, description="The operator's signed receipt for this billed call (none for a replay)."
    )


class ModelInfo(BaseModel):
    model_hash: str
    features: int
    classes: int
    price_per_row: int


class ErrorMessage(BaseModel):
    """The body of every 4xx/5xx the API itself raises, except validation errors (FastAPI's 422 shape)."""

    detail: str


def with_row_length(spec: dict[str, Any], n_features: int) -> dict[str, Any]:
    """A copy of ``spec`` whose ``PredictRequest`` rows have exactly ``n_features`` items."""
    spec = copy.deepcopy(spec)
    row = spec["components"]["schemas"]["PredictRequest"]["properties"]["rows"]["items"]
    row["minItems"] = row["maxItems"] = n_features
    return spec


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The spec entries for the errors an operation answers with (all but 422 have an ``ErrorMessage`` body)."""
    return {status: {"model": ErrorMessage, "description": ERRORS[status]} for status in statuses}


ERRORS = {
    400: "The request body could not be read as JSON.",
    401: "Missing or unknown API key (send X-API-Key or Authorization: Bearer).",
    402: "The key's credit (bought in the CreditVault, less what it was billed) does not cover the call.",
    404: "No such resource.",
    409: "The Idempotency-Key was already used for a different request.",
    503: "No model is released yet, or the usage store is unavailable; the detail says which. Retry later.",
}
