"""The API's Prometheus metrics, through ``prometheus_client`` on a registry of the app's own.

Labels never carry what a client sent: a request is labelled by its route *template* (``/api/dashboard/{view}``),
and every path no route matches shares the one label ``unmatched``. So a hostile path (``/x%22y``, ``%0A``)
can neither break the exposition format nor forge a line, and the number of series is bounded by the routes
and status codes the app has, not by the paths it is sent. ``prometheus_client`` escapes every label value.

Series:

- ``fairshare_requests_total{route,method,status}``, ``fairshare_request_seconds{route}`` (histogram);
- ``fairshare_revenue_total`` and ``fairshare_billed_rows_total``: what this process actually billed since it
  started (an idempotent replay bills 0, a refused call 0);
- ``fairshare_billing_queue_depth``, ``fairshare_billing_batch_calls`` (calls per group commit) and
  ``fairshare_billing_commit_seconds``;
- from the usage store (every process's calls, read at scrape time): ``fairshare_billed_revenue``,
  ``fairshare_settled_revenue``, ``fairshare_unsettled_revenue`` (billed, not yet settled on chain),
  ``fairshare_settlements_total`` and ``fairshare_settlement_open`` (1 while a settlement awaits the chain).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fairshare.serving.store import UsageStore

__all__ = ["CONTENT_TYPE", "UNMATCHED", "Metrics", "TimingMiddleware"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
COMMIT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class Metrics:
    """Every series of one app, on its own registry (two apps in one process never share counts)."""

    def __init__(self, store: UsageStore | None = None, queue_depth: Callable[[], int] | None = None) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._requests = Counter(
            "fairshare_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=r,
        )
        self._latency = Histogram(
            "fairshare_request_seconds",
            "Request latency by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.revenue = Counter("fairshare_revenue", "Revenue billed by this process (smallest unit).", registry=r)
        self.billed_rows = Counter("fairshare_billed_rows", "Rows billed by this process.", registry=r)
        self.batch_calls = Histogram(
            "fairshare_billing_batch_calls", "Paid calls decided per group commit.", buckets=BATCH_BUCKETS, registry=r
        )
        self.commit_seconds = Histogram(
            "fairshare_billing_commit_seconds", "Duration of a billing transaction.", buckets=COMMIT_BUCKETS, registry=r
        )
        depth = Gauge("fairshare_billing_queue_depth", "Paid calls waiting for the next billing commit.", registry=r)
        depth.set_function(queue_depth or (lambda: 0))
        if store is not None:
            r.register(_SettlementCollector(store))
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One request; the label children are cached (``labels()`` costs more than the increment)."""
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(route, method, str(status)), self._latency.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def batch_committed(self, calls: int, seconds: float, billed: int, rows: int) -> None:
        self.batch_calls.observe(calls)
        self.commit_seconds.observe(seconds)
        if billed:
            self.revenue.inc(billed)
            self.billed_rows.inc(rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _SettlementCollector(Collector):
    """Billed, settled and unsettled revenue and the settlements, as the usage store has them at scrape time."""

    def __init__(self, store: UsageStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        summary = self.store.summary()
        settlements = self.store.settlements()
        yield CounterMetricFamily(
            "fairshare_billed_revenue", "Revenue billed by every server of this store (smallest unit).", summary.revenue
        )
        yield CounterMetricFamily(
            "fairshare_settled_revenue", "Revenue settled on chain (smallest unit).", summary.settled
        )
        yield GaugeMetricFamily(
            "fairshare_unsettled_revenue",
            "Revenue billed and not yet settled on chain (smallest unit).",
            summary.pending,
        )
        yield CounterMetricFamily(
            "fairshare_settlements", "Settlements confirmed on chain.", sum(1 for s in settlements if s[3] == "settled")
        )
        yield GaugeMetricFamily(
            "fairshare_settlement_open",
            "1 while a settlement is opened and not yet confirmed on chain.",
            sum(1 for s in settlements if s[3] == "open"),
        )


class TimingMiddleware:
    """Counts and times every HTTP request into ``Metrics``, as plain ASGI, labelled by route template.

    Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) wraps each request in extra tasks and
    streams; it cost about 8% of the server's CPU per paid call here. The router puts the matched route into
    the request's scope, which this middleware reads after the response: no second routing pass.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"] if scope["method"] in _METHODS else "other"
            self.metrics.observe(template, method, status, time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
