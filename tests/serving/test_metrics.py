"""/metrics: Prometheus's own parser reads it after hostile requests; labels are route templates; series bounded."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.serving.conftest import PRICE, MemorySink

from fairshare.serving.app import create_app
from fairshare.serving.server import running
from fairshare.serving.settle import settle
from fairshare.serving.store import UsageStore

HOSTILE = ["/x%22y", "/a%0Afairshare_revenue_total%201e30", '/q"}', "/%5C", "/%E2%80%AE", "/x?y=%0A"]


def _families(text: str) -> dict[str, object]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def _samples(text: str, name: str) -> list:
    return [s for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_hostile_paths_cannot_break_or_forge_the_output(store: UsageStore, released) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    with running(create_app(store, released, lambda: PRICE)) as url, httpx.Client(base_url=url) as http:
        assert http.post("/v1/predict", json={"rows": [[0, 0, 0]]}, headers={"X-API-Key": key}).status_code == 200
        for path in HOSTILE:  # raw, as a client may send them
            http.get(path)
        text = http.get("/metrics").text
    families = _families(text)  # raises on a malformed exposition
    revenue = _samples(text, "fairshare_revenue_total")
    assert [s.value for s in revenue] == [PRICE]  # no forged second line
    routes = {s.labels["route"] for s in _samples(text, "fairshare_requests_total")}
    assert routes == {"/v1/predict", "unmatched"}  # /metrics itself is counted after it answers
    unmatched = [s for s in _samples(text, "fairshare_requests_total") if s.labels["route"] == "unmatched"]
    assert sum(s.value for s in unmatched) == len(HOSTILE) and {s.labels["status"] for s in unmatched} == {"404"}
    assert "fairshare_request_seconds" in families and "fairshare_billing_commit_seconds" in families


def test_unknown_paths_add_no_series(client) -> None:
    client.get("/nothing-here")
    before = len(list(text_string_to_metric_families(client.get("/metrics").text)))
    series_before = sum(len(f.samples) for f in text_string_to_metric_families(client.get("/metrics").text))
    for i in range(300):
        client.get(f"/probe-{i}")
    text = client.get("/metrics").text
    assert len(list(text_string_to_metric_families(text))) == before
    assert sum(len(f.samples) for f in text_string_to_metric_families(text)) == series_before
    [unmatched] = [s for s in _samples(text, "fairshare_requests_total") if s.labels["route"] == "unmatched"]
    assert unmatched.value == 301


def test_route_templates_latency_billing_and_settlement_series(client, store: UsageStore) -> None:
    key = store.create_key("acme", credit=10 * PRICE)
    for _ in range(3):
        client.post("/v1/predict", json={"rows": [[1, 0, 0], [0, 1, 0]]}, headers={"X-API-Key": key})
    client.post("/v1/predict", json={"rows": [[1, 0, 0]]}, headers={"X-API-Key": key, "Idempotency-Key": "r"})
    client.post("/v1/predict", json={"rows": [[1, 0, 0]]}, headers={"X-API-Key": key, "Idempotency-Key": "r"})
    first = settle(store, MemorySink())
    client.post("/v1/predict", json={"rows": [[1, 0, 0]]}, headers={"X-API-Key": key})
    text = client.get("/metrics").text
    summary = store.summary()

    def value(name: str, **labels: str) -> float:
        matches = [s for s in _samples(text, name) if all(s.labels.get(k) == v for k, v in labels.items())]
        assert len(matches) == 1, (name, labels, matches)
        return matches[0].value

    assert value("fairshare_requests_total", route="/v1/predict", method="POST", status="200") == 6
    assert value("fairshare_request_seconds_count", route="/v1/predict") == 6
    assert value("fairshare_request_seconds_bucket", route="/v1/predict", le="+Inf") == 6
    assert value("fairshare_revenue_total") == summary.revenue == 8 * PRICE  # the replay billed nothing
    assert value("fairshare_billed_rows_total") == summary.rows == 8
    assert value("fairshare_billing_batch_calls_count") == 6 and value("fairshare_billing_commit_seconds_count") == 6
    assert value("fairshare_billing_queue_depth") == 0
    assert first is not None and value("fairshare_settled_revenue_total") == summary.settled == first.amount
    assert value("fairshare_unsettled_revenue") == summary.pending == PRICE
    assert value("fairshare_billed_revenue_total") == summary.revenue
    assert value("fairshare_settlements_total") == 1 and value("fairshare_settlement_open") == 0


def test_two_apps_in_one_process_do_not_share_counts(store: UsageStore, released) -> None:
    from fastapi.testclient import TestClient

    one, two = (TestClient(create_app(store, released, lambda: PRICE)) for _ in range(2))
    one.get("/v1/model")
    assert _samples(two.get("/metrics").text, "fairshare_requests_total") == []
