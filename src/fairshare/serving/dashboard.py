"""The members' dashboard: read-only pages over JSON endpoints that are part of the OpenAPI spec.

Pages (overview, contributions, payouts, governance, ledger) are static HTML that fetch ``/api/dashboard/*``
and draw charts with Plotly's JavaScript bundle, served from the installed ``plotly`` package: no CDN, so
the pages work on an air-gapped network. No key is needed: only aggregate and per-member on-chain data is
shown, never API keys or per-customer usage.
"""

from __future__ import annotations

import logging
import string
import threading
import time
from collections.abc import Callable
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

from fairshare.errors import FairshareError
from fairshare.serving.schemas import error_responses

__all__ = ["dashboard_router"]

log = logging.getLogger(__name__)

PAGES = {
    "/": ("Overview", "overview"),
    "/contributions": ("Contributions", "contributions"),
    "/payouts": ("Payouts", "payouts"),
    "/governance": ("Governance", "governance"),
    "/ledger": ("Ledger", "ledger"),
}


def _page(title: str, view: str) -> str:
    nav = " ".join(f'<a href="{path}" class="{"on" if v == view else ""}">{t}</a>' for path, (t, v) in PAGES.items())
    template = string.Template(resources.files("fairshare.serving").joinpath("static", "page.html").read_text())
    return template.substitute(title=title, view=view, nav=nav)


def dashboard_router(snapshot: Callable[[], dict[str, object]], ttl_seconds: float = 5.0) -> APIRouter:
    """Pages and JSON endpoints over ``snapshot`` (the audit and everything it re-derives from the chain).

    A snapshot re-reads the whole history from the chain, which takes seconds on a long run. The first request
    waits for one; after that a request gets the latest snapshot at once, and one older than ``ttl_seconds``
    is retaken in the background. One snapshot runs at a time.
    """
    router = APIRouter()
    taking = threading.Lock()  # one snapshot at a time
    state: dict[str, object] = {"at": 0.0}

    def take() -> None:
        with taking:
            try:
                state["value"], state["at"] = snapshot(), time.monotonic()
                state.pop("error", None)
            except FairshareError as exc:
                state["error"], state["at"] = exc, time.monotonic()
            except Exception as exc:  # a bug, but a page must say so rather than hang
                log.exception("dashboard snapshot failed")
                state["error"], state["at"] = exc, time.monotonic()

    def data() -> dict[str, object]:
        if "value" not in state:
            take()  # nothing to show yet: this request waits
        elif time.monotonic() - float(state["at"]) > ttl_seconds and not taking.locked():  # type: ignore[arg-type]
            threading.Thread(target=take, daemon=True, name="dashboard-snapshot").start()
        if "value" in state:
            return state["value"]  # type: ignore[return-value]
        raise HTTPException(status_code=503, detail=str(state.get("error")))

    for path, (title, view) in PAGES.items():
        router.add_api_route(
            path, _html_route(title, view), methods=["GET"], response_class=HTMLResponse, include_in_schema=False
        )

    @router.get("/api/dashboard/{view}", tags=["dashboard"], responses=error_responses(404, 503))
    def dashboard_data(view: str) -> dict[str, object]:
        """The dashboard's data: chain, audit, contributions, payouts and governance (aggregate, no keys)."""
        if view not in {v for _, v in PAGES.values()}:
            raise HTTPException(status_code=404, detail=f"no dashboard view {view!r}")
        return data()

    @router.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            body = resources.files("plotly").joinpath("package_data", "plotly.min.js").read_bytes()
        elif name in ("dashboard.js", "dashboard.css"):
            body = resources.files("fairshare.serving").joinpath("static", name).read_bytes()
        else:
            raise HTTPException(status_code=404, detail=f"no static file {name!r}")
        media = "text/css" if name.endswith(".css") else "application/javascript"
        return Response(body, media_type=media, headers={"Cache-Control": "max-age=3600"})

    return router


def _html_route(title: str, view: str) -> Callable[[], HTMLResponse]:
    html = _page(title, view)

    def page() -> HTMLResponse:
        return HTMLResponse(html)

    return page
