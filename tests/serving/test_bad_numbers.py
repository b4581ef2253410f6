"""Bad numbers: non-finite or absurd inputs, and outputs the model cannot compute, are refused and never billed."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient
from tests.serving.conftest import PRICE

from fairshare.learning.logistic import LogisticRegression
from fairshare.serving.app import create_app
from fairshare.serving.released import ReleasedModel
from fairshare.serving.store import UsageStore


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_values_get_422_naming_row_and_column(client, store: UsageStore, token: str) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    body = '{"rows": [[0, 0, 0], [1, TOKEN, 0]]}'.replace("TOKEN", token)  # tokens Starlette's parser accepts
    response = client.post("/v1/predict", content=body, headers={"X-API-Key": key, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "rows", 1, 1] and error["msg"].startswith("row 1, column 1: ")
    assert store.summary().calls == 0 and store.keys()[0].credit == 10 * PRICE


def test_a_row_of_1e308_is_refused_and_not_billed(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    response = client.post("/v1/predict", json={"rows": [[1e308, 1e308, 1e308]]}, headers={"X-API-Key": key})
    assert response.status_code == 422 and "row 0, column 0" in response.json()["detail"][0]["msg"]
    assert store.summary().calls == 0 and store.keys()[0].credit == 10 * PRICE


def test_a_non_finite_output_is_refused_and_not_billed(store: UsageStore) -> None:
    """Inputs within bounds, weights that overflow: the answer is computed before the debit, so nothing is billed."""
    huge = ReleasedModel(LogisticRegression(3, 2), [np.array([[1e305, -1e305]] * 3), np.zeros(2)], "ef" * 32)
    client = TestClient(create_app(store, huge, lambda: PRICE))
    key = store.create_key("acme", credit=10 * PRICE)
    response = client.post("/v1/predict", json={"rows": [[0, 0, 0], [1e5, 1e5, 1e5]]}, headers={"X-API-Key": key})
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "rows", 1] and "not finite" in error["msg"]
    assert store.summary().calls == 0 and store.keys()[0].credit == 10 * PRICE


def test_the_spec_states_row_length_security_and_every_error(client) -> None:
    spec = client.get("/openapi.json").json()
    row = spec["components"]["schemas"]["PredictRequest"]["properties"]["rows"]["items"]
    assert row["minItems"] == row["maxItems"] == 3  # the conftest model's feature count
    assert row["items"]["maximum"] > 0 > row["items"]["minimum"]
    schemes = spec["components"]["securitySchemes"]
    assert schemes["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": schemes["ApiKey"]["description"],
    }
    assert schemes["Bearer"]["type"] == "http" and schemes["Bearer"]["scheme"] == "bearer"
    predict = spec["paths"]["/v1/predict"]["post"]
    assert {"ApiKey": []} in predict["security"] and {"Bearer": []} in predict["security"]
    assert {"401", "402", "409", "422", "503"} <= set(predict["responses"])
    for status in ("401", "402", "409", "503"):
        assert predict["responses"][status]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorMessage"
        }
    assert "503" in spec["paths"]["/v1/model"]["get"]["responses"]


def test_each_error_the_api_answers_is_in_the_spec(client, store: UsageStore) -> None:
    """Drive every 4xx of /v1/predict for real and check its status is documented."""
    documented = set(client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["responses"])
    key = store.create_key("acme", credit=PRICE)
    seen = {
        client.post("/v1/predict", json={"rows": [[0, 0, 0]]}).status_code,  # no key
        client.post("/v1/predict", json={"rows": [[0, 0, 0]] * 2}, headers={"X-API-Key": key}).status_code,
        client.post("/v1/predict", json={"rows": [[0, 0]]}, headers={"X-API-Key": key}).status_code,
        client.post(
            "/v1/predict", json={"rows": [[0, 0, 0]]}, headers={"X-API-Key": key, "Idempotency-Key": "a"}
        ).status_code,
        client.post(
            "/v1/predict", json={"rows": [[1, 0, 0]]}, headers={"X-API-Key": key, "Idempotency-Key": "a"}
        ).status_code,
    }
    assert seen == {200, 401, 402, 409, 422} and {str(status) for status in seen - {200}} <= documented
