"""The API's documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``), with no CDN.

FastAPI's default pages load Swagger UI and ReDoc from a CDN, so on an air-gapped hospital network they
are blank. Here their JavaScript and CSS come from the ``fastapi-offline`` package's wheel (it ships the
Swagger UI bundle, its CSS and ReDoc's standalone bundle), served under ``/static/docs/``. Swagger UI's
online spec validator and ReDoc's Google Fonts are switched off, and ReDoc's footer logo, which its bundle
loads from Redocly's CDN (and hides when that fails), is given no source: nothing is fetched from outside.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, swagger_ui_default_parameters
from fastapi.responses import HTMLResponse, Response

__all__ = ["docs_router"]

ASSETS = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "application/javascript",
    "favicon.png": "image/png",
}
PREFIX = "/static/docs"


def docs_router(title: str, openapi_url: str = "/openapi.json") -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/docs")
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{title} · docs",
            swagger_js_url=f"{PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{PREFIX}/favicon.png",
            swagger_ui_parameters={**swagger_ui_default_parameters, "validatorUrl": None},
        )

    @router.get("/redoc")
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{title} · ReDoc",
            redoc_js_url=f"{PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{PREFIX}/favicon.png",
            with_google_fonts=False,
        )

    @router.get(PREFIX + "/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise HTTPException(status_code=404, detail=f"no documentation asset {name!r}")
        return Response(_asset(name), media_type=ASSETS[name], headers={"Cache-Control": "max-age=86400"})

    return router


REDOC_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _asset(name: str) -> bytes:
    body = resources.files("fastapi_offline").joinpath("static", name).read_bytes()
    return body.replace(REDOC_LOGO, b"") if name == "redoc.standalone.js" else body
