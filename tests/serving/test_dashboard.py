"""The dashboard and the API docs in headless Chromium (Debian's, via Playwright), with the network cut off.

Every request the browser makes to anything but the local server is aborted and recorded: the pages must
work air-gapped (issue 17: /docs and /redoc loaded Swagger UI and ReDoc from a CDN and were blank offline).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tests.cli.test_end_to_end import fairshare

from fairshare.consortium.session import open_run
from fairshare.serving.store import UsageStore

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PAGES = ["/", "/contributions", "/payouts", "/governance", "/ledger"]
PHONE = {"width": 390, "height": 844}


def units(amount: int, decimals: int) -> str:
    """What a person reads: the amount in the currency's unit, exact, integer part grouped (as dashboard.js)."""
    whole, frac = divmod(amount, 10**decimals)
    text = f"{whole:,}"
    digits = f"{frac:0{decimals}d}".rstrip("0") if decimals else ""
    return text + (f".{digits}" if digits else "")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium); dashboard browser test skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@contextmanager
def offline_page(browser, viewport: dict[str, int]) -> Iterator[tuple[object, list[str], list[str]]]:
    """A page that may reach only 127.0.0.1/localhost; yields it, the blocked URLs and the page errors."""
    context = browser.new_context(viewport=viewport)
    blocked: list[str] = []
    errors: list[str] = []

    def only_local(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_local)
    page = context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        yield page, blocked, errors
    finally:
        context.close()


def test_every_page_shows_the_audits_numbers_in_the_currency_and_exactly(released_run, browser, tmp_path) -> None:
    url, _, audit = released_run
    shots = Path(os.environ.get("FAIRSHARE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    data = httpx.get(f"{url}/api/dashboard/payouts").json()
    currency = data["currency"]
    assert currency == {"symbol": "ETH", "decimals": 18, "unit": "wei", "token": None}
    names = {m["name"] for m in data["payouts"]}
    with offline_page(browser, {"width": 1280, "height": 900}) as (page, blocked, errors):
        for path in PAGES:
            page.goto(url + path)
            page.wait_for_selector("table", timeout=20_000)
            page.screenshot(path=str(shots / f"dashboard-{path.strip('/') or 'overview'}.png"), full_page=True)
            if path == "/":
                assert page.inner_text("[data-test=audit]") == ("OK" if audit["ok"] else "FAILED")
                deposited = audit["deposited"]
                assert page.inner_text("[data-test=deposited]") == f"{units(deposited, 18)} ETH"
                assert page.inner_text("[data-test=deposited-exact]") == f"{deposited:,} wei"
                assert Decimal(units(deposited, 18).replace(",", "")) * 10**18 == deposited
                assert page.inner_text("[data-test=unsettled-exact]") == f"{int(data['revenue']['unsettled']):,} wei"
                assert "pending" not in page.inner_text("main").lower()
                assert page.locator(".js-plotly-plot").count() == 1
            if path == "/payouts":
                for row in data["payouts"]:
                    entitled = audit["entitled"].get(row["address"], 0)
                    withdrawn = audit["withdrawn"].get(row["address"], 0)
                    assert page.inner_text(f"[data-test='entitled-{row['name']}']") == f"{units(entitled, 18)} ETH"
                    assert page.inner_text(f"[data-test='entitled-{row['name']}-exact']") == f"{entitled:,} wei"
                    assert page.inner_text(f"[data-test='withdrawn-{row['name']}-exact']") == f"{withdrawn:,} wei"
                    left = page.inner_text(f"[data-test='withdrawable-{row['name']}-exact']")
                    assert left == f"{entitled - withdrawn:,} wei"
                assert "pending" not in page.inner_text("main").lower()
            if path == "/contributions":
                rounds = httpx.get(f"{url}/api/dashboard/contributions").json()["rounds"]
                members = sorted({m for r in rounds for m in r["shares"]})
                plotted = page.evaluate("document.getElementById('share').data.map(t => [t.name, t.y])")
                assert {name: y for name, y in plotted} == {
                    m: [int(r["shares"].get(m, 0)) for r in rounds] for m in members
                }  # bar heights are shares minted, not scores or per-round percentages
                for m in members:
                    total = sum(int(r["shares"].get(m, 0)) for r in rounds)
                    assert page.inner_text(f"[data-test='shares-{m}']") == f"{total:,}"
            if path == "/governance":
                assert page.locator("tbody tr").count() >= len(audit["governance"])
                voters = page.locator("[data-test=voter]").all_inner_texts()
                assert voters and set(voters) <= names  # names, not addresses
    assert blocked == [] and errors == []


def test_pages_fit_a_390_px_phone(released_run, browser, tmp_path) -> None:
    url, _, _ = released_run
    shots = Path(os.environ.get("FAIRSHARE_SCREENSHOTS", tmp_path))
    with offline_page(browser, PHONE) as (page, blocked, errors):
        for path in PAGES:
            page.goto(url + path)
            page.wait_for_selector("table", timeout=20_000)
            page.screenshot(path=str(shots / f"phone-{path.strip('/') or 'overview'}.png"), full_page=True)
            width = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
            assert width[0] <= width[1] == PHONE["width"], (path, width)  # tables scroll inside their own box
    assert blocked == [] and errors == []


def test_api_docs_render_offline(released_run, browser) -> None:
    url, _, _ = released_run
    with offline_page(browser, {"width": 1280, "height": 900}) as (page, blocked, errors):
        page.goto(url + "/docs")
        page.wait_for_selector(".opblock", timeout=20_000)
        operations = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/v1/predict", "/v1/model", "/metrics", "/api/dashboard/{view}"} <= {o.strip() for o in operations}
        page.goto(url + "/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", timeout=20_000)
        assert page.locator("[data-section-id^='operation/']").count() >= 4
        assert "predict" in page.inner_text("body").lower()
    assert blocked == [] and errors == []


def test_before_a_release_the_dashboard_serves_and_the_api_answers_503(unreleased_run, browser) -> None:
    url, home, _ = unreleased_run
    key = fairshare("keys", "create", home=home).stdout.strip().splitlines()[-1]
    response = httpx.post(f"{url}/v1/predict", json={"rows": [[0.0] * 30]}, headers={"X-API-Key": key})
    assert response.status_code == 503 and "no model is released yet" in response.json()["detail"]
    assert httpx.get(f"{url}/v1/model").status_code == 503
    run = open_run(home)
    try:
        assert UsageStore(run.paths.usage_url).summary().calls == 0
    finally:
        run.chain.close()
    with offline_page(browser, {"width": 1280, "height": 900}) as (page, blocked, errors):
        page.goto(url + "/")
        page.wait_for_selector("table", timeout=20_000)
        assert page.inner_text("[data-test=model]") == "none yet"
        for path in ("/contributions", "/payouts", "/governance"):
            page.goto(url + path)
            page.wait_for_selector("tbody tr", timeout=20_000)
    assert blocked == [] and errors == []


def test_dashboard_data_is_in_the_openapi_spec_and_hides_keys(released_run) -> None:
    url, _, _ = released_run
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/api/dashboard/{view}" in spec["paths"]
    body = httpx.get(f"{url}/api/dashboard/overview").text
    assert "fsk_" not in body and "key_hash" not in body
    assert httpx.get(f"{url}/api/dashboard/secrets").status_code == 404
