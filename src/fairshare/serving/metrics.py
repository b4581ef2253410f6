"""Prometheus text exposition of the API's counters (requests, latency histogram, revenue, pending)."""

from __future__ import annotations

import threading
from collections import defaultdict

__all__ = ["Metrics"]

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
