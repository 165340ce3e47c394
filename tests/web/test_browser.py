"""The console in a real browser: Playwright driving Debian's Chromium over TLS. Sign in with
TOTP, search, open an event and its proof, switch language; every request the browser makes
must go to mamori's own origin, and no page may trip the Content-Security-Policy. Screenshots
go to tests/artifacts/."""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.access import add_user, begin_totp_enrolment, change_password, confirm_totp_enrolment
from mamori.access.roles import Role
from mamori.access.tokens import TokenVerifier
from mamori.access.totp import code_at
from mamori.home import Home, init
from mamori.ledger.writer import Sequencer
from mamori.service.metrics import Metrics
from mamori.web import WebContext, create_app
from tests.web.conftest import MAX_BODY, Cert, FakeSink, FakeSources, ServerThread
from tests.web.test_console import MARKER, NEW_PASSWORD, Codes, _event

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if shutil.which(CHROMIUM) is None:
    pytest.skip(
        f"{CHROMIUM} is missing (scripts/test installs Debian's chromium)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, cert: Cert) -> Iterator[tuple[str, Home]]:
    home = init(tmp_path_factory.mktemp("browser") / "home", origin="test.example/b")
    with Sequencer(home) as seq:
        seq.commit([_event(i) for i in range(5)])
    ctx = WebContext(
        sink=FakeSink(),
        tokens=TokenVerifier(home, interval=0.0),
        source_check=FakeSources(),
        metrics=Metrics(),
        max_body_bytes=MAX_BODY,
        home=home,
    )
    srv = ServerThread(create_app(ctx), cert)
    yield srv.url, home
    srv.stop()


def test_sign_in_search_event_proof_language(server: tuple[str, Home]) -> None:
    url, home = server
    password = add_user(home, "auditor1", Role.AUDITOR)
    secret = begin_totp_enrolment(home, "auditor1").secret
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    assert confirm_totp_enrolment(home, "auditor1", code_at(secret, earlier), now=earlier)
    change_password(home, "auditor1", password, NEW_PASSWORD)
    codes = Codes(secret)
    codes.last = int(earlier.timestamp()) // 30
    ARTIFACTS.mkdir(exist_ok=True)
    requests: list[str] = []
    console: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            context = browser.new_context(
                ignore_https_errors=True, locale="ja-JP", viewport={"width": 1280, "height": 900}
            )
            page = context.new_page()
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: console.append(m.text))
            page.goto(f"{url}/signin")
            page.screenshot(path=str(ARTIFACTS / "signin.png"), full_page=True)
            page.fill("#name", "auditor1")
            page.fill("#password", NEW_PASSWORD)
            page.fill("#code", codes.next())
            page.click("form.stacked button[type=submit]")
            page.wait_for_url(f"{url}/")
            assert page.locator("#tree-size").count() == 1
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
            page.goto(f"{url}/search")
            page.fill("#q", MARKER)
            page.click("form.search button[type=submit]")
            page.wait_for_selector("table.results")
            page.screenshot(path=str(ARTIFACTS / "search.png"), full_page=True)
            page.click("table.results tbody tr:first-child a")
            page.wait_for_selector("#proof-verified")
            assert page.locator("#proof-verified.ok").count() == 1
            page.screenshot(path=str(ARTIFACTS / "event.png"), full_page=True)
            page.click('a[hreflang="en"]')
            page.wait_for_selector("html[lang=en]")
            assert page.locator("h2", has_text="Inclusion proof").count() == 1
            page.screenshot(path=str(ARTIFACTS / "event-en.png"), full_page=True)
        finally:
            browser.close()
    assert requests and all(r.startswith(url + "/") for r in requests), requests
    assert not [m for m in console if "Content Security Policy" in m], console
