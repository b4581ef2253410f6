"""The dashboard in headless Chromium (Debian's, via Playwright): every page loads and shows the audit's numbers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tests.cli.test_end_to_end import REPO, fairshare

from fairshare.serving.server import free_port

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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (apt-get install chromium); dashboard browser test skipped")
    home = tmp_path_factory.mktemp("dash")
    fairshare("demo", "--rounds", "3", "--members", "4", home=home)
    audit = json.loads(fairshare("audit", "--json", home=home).stdout)
    port = free_port()
    env = {**os.environ, "FAIRSHARE_HOME": str(home)}
    server = subprocess.Popen(
        [sys.executable, "-m", "fairshare", "serve", "--port", str(port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/v1/model", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        server.kill()
        raise AssertionError(f"serve did not start: {server.stderr.read().decode() if server.stderr else ''}")
    yield url, audit
    server.kill()


def test_every_page_shows_the_audits_numbers(served, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    url, audit = served
    shots = Path(os.environ.get("FAIRSHARE_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    data = httpx.get(f"{url}/api/dashboard/payouts").json()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        for path in PAGES:
            page.goto(url + path)
            page.wait_for_selector("table", timeout=20_000)
            name = path.strip("/") or "overview"
            page.screenshot(path=str(shots / f"dashboard-{name}.png"), full_page=True)
            if path == "/":
                assert page.inner_text("[data-test=audit]") == ("OK" if audit["ok"] else "FAILED")
                assert page.inner_text("[data-test=deposited]") == f"{audit['deposited']:,}"
                assert page.locator(".js-plotly-plot").count() == 1
            if path == "/payouts":
                for row in data["payouts"]:
                    entitled = page.inner_text(f"[data-test='entitled-{row['name']}']")
                    withdrawn = page.inner_text(f"[data-test='withdrawn-{row['name']}']")
                    assert entitled == f"{audit['entitled'].get(row['address'], 0):,}"
                    assert withdrawn == f"{audit['withdrawn'].get(row['address'], 0):,}"
            if path == "/governance":
                assert page.locator("tbody tr").count() >= len(audit["governance"])
        browser.close()
    assert errors == []


def test_dashboard_data_is_in_the_openapi_spec_and_hides_keys(served) -> None:
    url, _ = served
    spec = httpx.get(f"{url}/openapi.json").json()
    assert "/api/dashboard/{view}" in spec["paths"]
    body = httpx.get(f"{url}/api/dashboard/overview").text
    assert "fsk_" not in body and "key_hash" not in body
    assert httpx.get(f"{url}/api/dashboard/secrets").status_code == 404
