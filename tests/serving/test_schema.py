"""Property-based API testing against the OpenAPI spec (schemathesis): no input makes the API fail with a 5xx."""

from __future__ import annotations

import numpy as np
import schemathesis
from hypothesis import HealthCheck, given, settings
from tests.serving.conftest import PRICE

from fairshare.learning.model import LogisticRegression
from fairshare.serving.app import ReleasedModel, create_app
from fairshare.serving.store import UsageStore


def test_no_input_causes_a_server_error(tmp_path) -> None:
    store = UsageStore(f"sqlite:///{tmp_path / 'usage.sqlite'}")
    released = ReleasedModel(LogisticRegression(3, 2), [np.ones((3, 2)), np.zeros(2)], "cd" * 32)
    key = store.create_key("fuzz", credit=50 * PRICE)
    app = create_app(store, released, lambda: PRICE, pending=lambda: store.summary().pending)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    checked = 0
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case) -> None:
            if not case.headers or "x-api-key" not in {k.lower() for k in case.headers}:
                case.headers = {**(case.headers or {}), "X-API-Key": key}
            response = case.call()
            assert response.status_code < 500, (case.path, case.body, response.status_code, response.text)

        check()
        checked += 1
    assert checked >= 3  # /v1/predict, /v1/model, /metrics
