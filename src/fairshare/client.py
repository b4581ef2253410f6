"""A customer's client for the paid model API: call it with an API key, keep every signed receipt.

    from fairshare.client import FairshareClient

    with FairshareClient("http://127.0.0.1:8000", "fsk_<id>_<secret>", receipts="receipts.jsonl") as api:
        answer = api.predict([[0.1, -0.3, ...]])
        answer.predictions, answer.charged, answer.receipt.receipt.total

Each paid answer's receipt (signed by the serving operator's key) is appended to the receipts file, one JSON
object per line, as the API sent it; ``fairshare customer verify receipts.jsonl`` checks them against the
chain. A call is retried once with the same ``Idempotency-Key`` if the connection drops, so a lost answer is
answered again without being paid twice. Errors are ``ServingError`` with the API's own reason.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from fairshare.errors import ServingError
from fairshare.ledger.receipts import SignedReceipt

__all__ = ["FairshareClient", "Prediction", "read_receipts"]


@dataclass(frozen=True)
class Prediction:
    predictions: list[int]
    probabilities: list[list[float]]
    model_hash: str
    charged: int
    credit_left: int
    replayed: bool
    receipt: SignedReceipt | None


class FairshareClient:
    def __init__(self, url: str, api_key: str, receipts: Path | str | None = None, timeout: float = 30.0) -> None:
        self.receipts = Path(receipts) if receipts is not None else None
        self._http = httpx.Client(base_url=url.rstrip("/"), headers={"X-API-Key": api_key}, timeout=timeout)

    def __enter__(self) -> FairshareClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def model(self) -> dict[str, Any]:
        """The released model's hash, feature and class counts, and the price per row."""
        return self._json(self._send("GET", "/v1/model"))

    def predict(self, rows: list[list[float]], idempotency_key: str | None = None) -> Prediction:
        """Predict ``rows`` (a paid call); the receipt is kept before the answer is returned."""
        headers = {"Idempotency-Key": idempotency_key or uuid.uuid4().hex}
        body = self._json(self._send("POST", "/v1/predict", json={"rows": rows}, headers=headers))
        receipt = SignedReceipt.from_json(body["receipt"]) if body.get("receipt") else None
        if receipt is not None and self.receipts is not None:
            with self.receipts.open("a") as out:
                out.write(json.dumps(body["receipt"]) + "\n")
        return Prediction(
            body["predictions"],
            body["probabilities"],
            body["model_hash"],
            int(body["charged"]),
            int(body["credit_left"]),
            bool(body.get("replayed", False)),
            receipt,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(2):
            try:
                return self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if attempt:
                    raise ServingError(f"the model API at {self._http.base_url} does not answer: {exc}") from exc
        raise AssertionError("unreachable")

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ServingError(f"the model API answered {response.status_code}: {detail}")
        return dict(response.json())


def read_receipts(path: Path) -> list[SignedReceipt]:
    """Receipts as ``FairshareClient`` keeps them (one JSON object per line); errors name the line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise ServingError(f"cannot read receipts file {path}: {exc.strerror or exc}") from exc
    out = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(SignedReceipt.from_json(json.loads(line)))
        except (ValueError, Exception) as exc:
            raise ServingError(f"{path}:{number}: not a receipt ({exc})") from exc
    return out
