"""The console in a real browser: Playwright driving Debian's Chromium over TLS.

As an auditor: sign in with TOTP, search, open an event and its proof, run a verification on
the ledger page (htmx polls until OK), visit the dashboard, search, event, ledger and audit
pages, switch language. As an administrator: the users, devices and tokens pages. Every page
at 1280×800 and at 375×800 must not scroll sideways. Every request the browser makes must go
to mamori's own origin, and no console message may be an error or a Content-Security-Policy
violation. A screenshot per page per width goes to tests/artifacts/.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WIDTHS = (1280, 375)
HEIGHT = 800
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

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
    assert srv.error is None, srv.error


def _ready(home: Home, name: str, role: Role) -> Codes:
    """An account with TOTP enrolled a minute ago and its password changed to NEW_PASSWORD."""
    password = add_user(home, name, role)
    secret = begin_totp_enrolment(home, name).secret
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    assert confirm_totp_enrolment(home, name, code_at(secret, earlier), now=earlier)
    change_password(home, name, password, NEW_PASSWORD)
    codes = Codes(secret)
    codes.last = int(earlier.timestamp()) // 30
    return codes


class Recorder:
    """Every request and console message of the pages it watches."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.errors: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("console", lambda m: self.console.append((m.type, m.text)))
        page.on("pageerror", lambda e: self.errors.append(str(e)))


def _sign_in(page: Page, url: str, name: str, codes: Codes) -> None:
    page.goto(f"{url}/signin")
    page.fill("#name", name)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#code", codes.next())
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(f"{url}/")


def _check_widths(page: Page, name: str, overflow: list[str]) -> None:
    """At each width: no horizontal scrolling, and a screenshot."""
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": HEIGHT})
        sizes: Any = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth]"
        )
        scroll_width, inner_width = int(sizes[0]), int(sizes[1])
        if scroll_width > inner_width:
            overflow.append(f"{name}@{width}: scrollWidth {scroll_width} > {inner_width}")
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": HEIGHT})


def test_the_console_in_a_browser(server: tuple[str, Home]) -> None:
    url, home = server
    auditor = _ready(home, "auditor1", Role.AUDITOR)
    admin = _ready(home, "admin1", Role.ADMIN)
    ARTIFACTS.mkdir(exist_ok=True)
    seen = Recorder()
    overflow: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                ignore_https_errors=True,
                locale="ja-JP",
                viewport={"width": WIDTHS[0], "height": HEIGHT},
            )
            page = context.new_page()
            seen.watch(page)
            page.goto(f"{url}/signin")
            _check_widths(page, "signin", overflow)
            _sign_in(page, url, "auditor1", auditor)
            assert page.locator("#tree-size").count() == 1
            _check_widths(page, "dashboard", overflow)

            page.goto(f"{url}/search")
            page.fill("#q", MARKER)
            page.click("form.search button[type=submit]")
            page.wait_for_selector("table.results")
            _check_widths(page, "search", overflow)
            page.click("table.results tbody tr:first-child a")
            page.wait_for_selector("#proof-verified")
            assert page.locator("#proof-verified.ok").count() == 1
            _check_widths(page, "event", overflow)

            page.goto(f"{url}/ledger")
            page.click("#verify-start")
            page.wait_for_selector('#verify-status[data-state="ok"]', timeout=15_000)
            assert page.locator("#verify-result.notice").count() == 1
            _check_widths(page, "ledger", overflow)

            page.goto(f"{url}/audit")
            page.wait_for_selector("h1")
            _check_widths(page, "audit", overflow)

            page.click('a[hreflang="en"]')
            page.wait_for_selector("html[lang=en]")
            assert page.locator("h1", has_text="Audit trail").count() == 1
            _check_widths(page, "audit-en", overflow)
            context.close()

            context = browser.new_context(
                ignore_https_errors=True,
                locale="ja-JP",
                viewport={"width": WIDTHS[0], "height": HEIGHT},
            )
            page = context.new_page()
            seen.watch(page)
            _sign_in(page, url, "admin1", admin)
            for path, name in [
                ("/admin/users", "users"),
                ("/admin/devices", "devices"),
                ("/admin/tokens", "tokens"),
            ]:
                response = page.goto(f"{url}{path}")
                assert response is not None and response.status == 200, path
                _check_widths(page, name, overflow)
            context.close()
        finally:
            browser.close()
    assert seen.requests and all(r.startswith(url + "/") for r in seen.requests), seen.requests
    assert not [t for _k, t in seen.console if "Content Security Policy" in t], seen.console
    assert not [t for k, t in seen.console if k == "error"], seen.console
    assert not seen.errors, seen.errors
    assert not overflow, overflow


def test_the_vulnerability_pages_in_a_browser(server: tuple[str, Home]) -> None:
    """As an operator: the end-of-life calendar, a finding, its triage through the form."""
    from tests.web.test_vuln_console import PAD, _seed

    url, home = server
    _seed(home)
    operator = _ready(home, "operator1", Role.OPERATOR)
    ARTIFACTS.mkdir(exist_ok=True)
    seen = Recorder()
    overflow: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                ignore_https_errors=True,
                locale="ja-JP",
                viewport={"width": WIDTHS[0], "height": HEIGHT},
            )
            page = context.new_page()
            seen.watch(page)
            _sign_in(page, url, "operator1", operator)
            page.click('nav.main-nav a[href="/vuln"]')
            page.wait_for_selector("#systems")
            _check_widths(page, "vuln", overflow)
            page.goto(f"{url}/vuln/eol")
            assert page.locator("section.eol-month .eol-ended").count() >= 1
            assert page.locator("#warn-days").inner_text() == "180 日"
            _check_widths(page, "vuln-eol", overflow)
            page.goto(f"{url}{PAD}")
            assert page.locator("#state").get_attribute("data-state") == "detected"
            page.select_option("#triage-status", "affected")
            page.fill("#triage-statement", "upgrade in the release of next month")
            page.click("#triage button[type=submit]")
            page.wait_for_selector("#done")
            assert page.locator("#state").get_attribute("data-state") == "affected"
            assert page.locator("#history", has_text="operator1").count() == 1
            _check_widths(page, "vuln-finding", overflow)
            context.close()
        finally:
            browser.close()
    assert seen.requests and all(r.startswith(url + "/") for r in seen.requests), seen.requests
    assert not [t for _k, t in seen.console if "Content Security Policy" in t], seen.console
    assert not [t for k, t in seen.console if k == "error"], seen.console
    assert not seen.errors, seen.errors
    assert not overflow, overflow
