"""Prometheus text exposition of the API's counters (requests, latency histogram, revenue, pending)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

__all__ = ["Metrics", "TimingMiddleware"]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, int], int] = defaultdict(int)
        self.buckets = [0] * (len(BUCKETS) + 1)
        self.latency_sum = 0.0
        self.revenue = 0

    def observe(self, path: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(path, status)] += 1
            self.latency_sum += seconds
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[i] += 1
            self.buckets[-1] += 1

    def render(self, pending: int | None) -> str:
        with self._lock:
            lines = [
                "# HELP fairshare_requests_total HTTP requests by path and status.",
                "# TYPE fairshare_requests_total counter",
            ]
            for (path, status), count in sorted(self.requests.items()):
                lines.append(f'fairshare_requests_total{{path="{path}",status="{status}"}} {count}')
            lines += ["# HELP fairshare_request_seconds Request latency.", "# TYPE fairshare_request_seconds histogram"]
            for bound, count in zip(BUCKETS, self.buckets, strict=False):
                lines.append(f'fairshare_request_seconds_bucket{{le="{bound}"}} {count}')
            lines.append(f'fairshare_request_seconds_bucket{{le="+Inf"}} {self.buckets[-1]}')
            lines.append(f"fairshare_request_seconds_sum {self.latency_sum}")
            lines.append(f"fairshare_request_seconds_count {self.buckets[-1]}")
            lines += [
                "# HELP fairshare_revenue_total Revenue billed by this process (smallest unit).",
                "# TYPE fairshare_revenue_total counter",
                f"fairshare_revenue_total {self.revenue}",
            ]
            if pending is not None:
                lines += [
                    "# HELP fairshare_pending_settlement Billed revenue not yet settled on chain.",
                    "# TYPE fairshare_pending_settlement gauge",
                    f"fairshare_pending_settlement {pending}",
                ]
            return "\n".join(lines) + "\n"


class TimingMiddleware:
    """Counts and times every HTTP request into ``Metrics``, as plain ASGI.

    Starlette's ``@app.middleware("http")`` (BaseHTTPMiddleware) wraps each request in extra tasks and
    streams; it cost about 8% of the server's CPU per paid call here.
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
            self.metrics.observe(scope["path"], status, time.perf_counter() - started)
