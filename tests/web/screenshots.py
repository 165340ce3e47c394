"""Screenshots of the console for docs/screenshots/ (run by scripts/screenshots).

Starts the real `mamori up` on a scratch home with free ports, sends a few syslog lines over
TCP, sets up an auditor and an administrator (TOTP enrolled, password changed), signs each in
with Debian's Chromium through Playwright and writes 1280×800 PNGs of the main pages, in
Japanese, plus the search page in English::

    .venv/bin/python -m tests.web.screenshots docs/screenshots
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page, ViewportSize, sync_playwright

from mamori.access import (
    add_token,
    add_user,
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
)
from mamori.access.devices import add_device
from mamori.access.roles import Role
from mamori.access.totp import code_at
from mamori.home import Home
from tests.service.svc import Up, service_home
from tests.web.test_console import NEW_PASSWORD, Codes

CHROMIUM = "/usr/bin/chromium"
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SAMPLE = [
    "<38>Nov 27 09:00:01 web-01 sshd[812]: Failed password for root from 203.0.113.7 port 52144 ssh2",
    "<38>Nov 27 09:00:03 web-01 sshd[812]: Failed password for root from 203.0.113.7 port 52150 ssh2",
    "<38>Nov 27 09:00:09 web-01 sshd[815]: Accepted publickey for tanaka from 192.0.2.10 port 50022 ssh2",
    "<86>Nov 27 09:01:12 db-01 sudo: tanaka : TTY=pts/0 ; PWD=/home/tanaka ; USER=root ; COMMAND=/usr/bin/systemctl restart postgresql",
    "<30>Nov 27 09:02:40 db-01 systemd[1]: Started PostgreSQL RDBMS.",
    "<36>Nov 27 09:03:05 fw-01 kernel: DROP IN=eth0 SRC=198.51.100.23 DST=192.0.2.5 PROTO=TCP DPT=3389",
    "<38>Nov 27 09:04:18 web-01 sshd[820]: Invalid user admin from 198.51.100.23 port 40110",
    "<14>Nov 27 09:05:00 app-01 app[2201]: ユーザー suzuki がログインしました",
]


def ready(home: Home, name: str, role: Role) -> Codes:
    """An account with TOTP enrolled a minute ago and its password changed to NEW_PASSWORD."""
    password = add_user(home, name, role)
    secret = begin_totp_enrolment(home, name).secret
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    assert confirm_totp_enrolment(home, name, code_at(secret, earlier), now=earlier)
    change_password(home, name, password, NEW_PASSWORD)
    codes = Codes(secret)
    codes.last = int(earlier.timestamp()) // 30
    return codes


def sign_in(page: Page, url: str, name: str, codes: Codes) -> None:
    page.goto(f"{url}/signin")
    page.fill("#name", name)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#code", codes.next())
    page.click("form.stacked button[type=submit]")
    page.wait_for_url(f"{url}/")


def shoot(page: Page, out: Path, name: str) -> None:
    page.screenshot(path=str(out / f"{name}.png"))
    print(f"wrote {out / name}.png")


def search_until_found(page: Page, url: str, query: str, timeout: float = 20.0) -> None:
    """Open the search page for `query`, again until the sample events are indexed."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(f"{url}/search?q={quote(query)}&limit=20")
        if page.locator("table.results tbody tr").count() >= 3:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"the sample events never showed up in the search for {query!r}")
        time.sleep(0.5)


def take(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mamori-shots-") as scratch:
        home = service_home(Path(scratch) / "home")
        auditor = ready(home, "tanaka", Role.AUDITOR)
        admin = ready(home, "sato", Role.ADMIN)
        ready(home, "suzuki", Role.OPERATOR)
        add_token(home, "rsyslog-web-01", "ingest")
        add_token(home, "report-batch", "read", expires_days=30)
        add_device(home, "web-01", address="127.0.0.1")
        add_device(home, "fw-01", address="192.0.2.0/28")
        up = Up(home).wait_ready()
        try:
            url = f"https://127.0.0.1:{up.ports['https']}"
            with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
                s.sendall("".join(line + "\n" for line in SAMPLE).encode())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    ctx = browser.new_context(
                        ignore_https_errors=True, locale="ja-JP", viewport=VIEWPORT
                    )
                    page = ctx.new_page()
                    page.goto(f"{url}/signin")
                    shoot(page, out, "signin")
                    sign_in(page, url, "tanaka", auditor)
                    search_until_found(page, url, "host:web-01")
                    page.goto(f"{url}/")
                    shoot(page, out, "dashboard")
                    search_until_found(page, url, "host:web-01")
                    shoot(page, out, "search")
                    page.click("table.results tbody tr:first-child a")
                    page.wait_for_selector("#proof-verified")
                    shoot(page, out, "event")
                    page.goto(f"{url}/ledger")
                    page.click("#verify-start")
                    page.wait_for_selector('#verify-status[data-state="ok"]', timeout=20_000)
                    shoot(page, out, "ledger")
                    page.goto(f"{url}/audit")
                    shoot(page, out, "audit")
                    page.goto(f"{url}/lang/en?next={quote('/search?q=host%3Aweb-01&limit=20')}")
                    page.wait_for_selector("html[lang=en]")
                    shoot(page, out, "search-en")
                    ctx.close()

                    ctx = browser.new_context(
                        ignore_https_errors=True, locale="ja-JP", viewport=VIEWPORT
                    )
                    page = ctx.new_page()
                    sign_in(page, url, "sato", admin)
                    for path, name in [
                        ("/admin/users", "users"),
                        ("/admin/devices", "devices"),
                        ("/admin/tokens", "tokens"),
                    ]:
                        page.goto(f"{url}{path}")
                        shoot(page, out, name)
                    ctx.close()
                finally:
                    browser.close()
        finally:
            rc = up.stop()
            if rc != 0:
                print(up.stderr(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="where to write the PNGs")
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    take(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
