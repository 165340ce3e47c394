"""Screenshots of the console for docs/screenshots/ (run by scripts/screenshots).

Starts the real `mamori up` on a scratch home with free ports, sends a few syslog lines over
TCP (six failed SSH passwords from one address among them, which the built-in brute-force
correlation turns into an alert), sets up an auditor, an administrator and an operator (TOTP
enrolled, password changed), seeds a few service-desk tickets and an incident, signs each in
with Debian's Chromium through Playwright and writes 1280×800 PNGs of the main pages in
Japanese, plus the search page and an incident in English. The operator opens an incident from
the brute-force alert, takes it through two FLT-1 stages and starts its review on the pages::

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
from mamori.alerts.store import AlertStore
from mamori.home import Home
from mamori.incidents.model import Category, Level, Priority
from mamori.incidents.service import create_incident
from mamori.incidents.store import IncidentStore
from mamori.incidents.tickets import (
    TicketCategory,
    TicketStatus,
    TicketStore,
    comment_ticket,
    open_ticket,
    set_ticket_status,
)
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

BRUTE_FORCE = "07443f88-3337-48ac-83ab-4e7b4f75b68f"
"""Built-in: repeated authentication failures from one address (≥5 in 5m)."""

SAMPLE = [
    (38, 1, "web-01 sshd[812]: Failed password for root from 203.0.113.7 port 52144 ssh2"),
    (38, 3, "web-01 sshd[812]: Failed password for root from 203.0.113.7 port 52150 ssh2"),
    (38, 4, "web-01 sshd[812]: Failed password for root from 203.0.113.7 port 52156 ssh2"),
    (38, 5, "web-01 sshd[813]: Failed password for admin from 203.0.113.7 port 52160 ssh2"),
    (38, 6, "web-01 sshd[813]: Failed password for admin from 203.0.113.7 port 52166 ssh2"),
    (38, 7, "web-01 sshd[814]: Failed password for oracle from 203.0.113.7 port 52170 ssh2"),
    (38, 9, "web-01 sshd[815]: Accepted publickey for tanaka from 192.0.2.10 port 50022 ssh2"),
    (
        86,
        40,
        "db-01 sudo: tanaka : TTY=pts/0 ; PWD=/home/tanaka ; USER=root ; COMMAND=/usr/bin/systemctl restart postgresql",
    ),
    (30, 60, "db-01 systemd[1]: Started PostgreSQL RDBMS."),
    (36, 75, "fw-01 kernel: DROP IN=eth0 SRC=198.51.100.23 DST=192.0.2.5 PROTO=TCP DPT=3389"),
    (38, 90, "web-01 sshd[820]: Invalid user admin from 198.51.100.23 port 40110"),
    (14, 110, "app-01 app[2201]: ユーザー suzuki がログインしました"),
]
"""(priority, seconds after the first, the rest of the line) of the syslog lines sent."""


def sample(start: dt.datetime) -> list[str]:
    """The sample lines (RFC 3164) from `start` on, in the machine's local time as `[syslog]
    timezone = "local"` reads them: the brute-force correlation drops events older than five
    minutes before the newest it has seen, and mamori's own audit events are of now."""
    lines = []
    for pri, seconds, rest in SAMPLE:
        t = (start + dt.timedelta(seconds=seconds)).astimezone()
        lines.append(f"<{pri}>{t:%b} {t.day:2d} {t:%H:%M:%S} {rest}")
    return lines


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


def seed_tickets(home: Home, now: dt.datetime) -> None:
    """Service-desk tickets of the last days: answered, waiting, resolved, one still new."""

    def ago(hours: int) -> dt.datetime:
        return now - dt.timedelta(hours=hours)

    with TicketStore.open(home) as store:
        vpn = open_ticket(
            store,
            category=TicketCategory.INQUIRY,
            requester="総務課 山田",
            subject="在宅勤務時に VPN へ接続できない",
            description="昨日から VPN クライアントが「認証に失敗しました」と表示します。",
            actor="suzuki",
            now=ago(30),
            priority=Priority.P3,
        )
        comment_ticket(
            store, vpn.id, "証明書の期限切れを確認しました。", actor="suzuki", now=ago(29)
        )
        set_ticket_status(store, vpn.id, TicketStatus.RESOLVED, actor="suzuki", now=ago(26))
        account = open_ticket(
            store,
            category=TicketCategory.REQUEST,
            requester="人事課 佐々木",
            subject="新入職員 3 名のアカウント発行",
            actor="suzuki",
            now=ago(20),
            urgency=Level.MEDIUM,
            impact=Level.LOW,
            assignee="suzuki",
        )
        set_ticket_status(
            store,
            account.id,
            TicketStatus.WAITING,
            actor="suzuki",
            now=ago(19),
            note="所属長の承認待ち",
        )
        printer = open_ticket(
            store,
            category=TicketCategory.FAILURE,
            requester="会計課 高橋",
            subject="帳票サーバから月次帳票が出力できない",
            description="月次締めの帳票がタイムアウトになります。",
            actor="suzuki",
            now=ago(6),
            priority=Priority.P2,
            assignee="suzuki",
        )
        set_ticket_status(store, printer.id, TicketStatus.IN_PROGRESS, actor="suzuki", now=ago(5))
        open_ticket(
            store,
            category=TicketCategory.CHANGE,
            requester="情報政策課 伊藤",
            subject="ファイアウォールに保守用の接続元を追加",
            actor="suzuki",
            now=ago(1),
            priority=Priority.P4,
        )


def seed_incident(home: Home, now: dt.datetime) -> None:
    """An earlier incident opened by hand (the other is opened from an alert on the pages)."""
    with IncidentStore.open(home) as store:
        create_incident(
            store,
            actor="suzuki",
            now=now - dt.timedelta(hours=3),
            title="DB サーバ db-01 のディスク使用率が 95% に到達",
            description="監視で検知。アーカイブログの増加による。",
            category=Category.FAILURE,
            urgency=Level.MEDIUM,
            impact=Level.MEDIUM,
            assignee="suzuki",
            hosts=["db-01"],
        )


def brute_force_alert(home: Home, timeout: float = 30.0) -> int:
    """The id of the alert the built-in brute-force correlation raised on the sample lines."""
    deadline = time.monotonic() + timeout
    while True:
        with AlertStore.open(home) as store:
            found = [a for a in store.list() if a.rule == BRUTE_FORCE]
        if found:
            return found[0].id
        if time.monotonic() > deadline:
            raise SystemExit("the brute-force alert was never raised")
        time.sleep(0.5)


def incident_from_alert(page: Page, url: str, alert_id: int) -> str:
    """On the pages: an incident opened from the alert, taken through two FLT-1 stages, its
    review started with a countermeasure; its id."""
    page.goto(f"{url}/incidents/new?alert={alert_id}")
    page.fill("#inc-title", "web-01 への SSH 総当たり攻撃")
    page.fill(
        "#inc-description",
        "203.0.113.7 から root・admin 等への SSH パスワード認証の失敗が短時間に集中。"
        "ログイン成功の記録はなし。",
    )
    page.select_option("#inc-urgency", "high")
    page.select_option("#inc-impact", "medium")
    page.fill("#inc-assignee", "鈴木")
    page.click("#new-incident button[type=submit]")
    page.wait_for_url("**/incidents/INC-*?done=created")
    incident_id = page.url.rsplit("/", 1)[1].split("?")[0]
    for note in (
        "203.0.113.7 を境界ファイアウォールで遮断。web-01 の SSH を管理セグメントからのみに制限。",
        "保守事業者（株式会社サンプルシステム）へ電話で連絡し、ログの調査を依頼。",
    ):
        page.fill("#next-note", note)
        page.click("#step-next button[type=submit]")
        page.wait_for_url("**?done=stepped")
    page.goto(f"{url}/incidents/{incident_id}/review")
    page.fill("#cm-text", "SSH のパスワード認証を無効にし、鍵認証のみとする")
    page.fill("#cm-owner", "インフラ担当")
    page.fill("#cm-due", (dt.date.today() + dt.timedelta(days=14)).isoformat())
    page.click("#countermeasure-add button[type=submit]")
    page.wait_for_url("**?done=added")
    page.fill("#rv-cause", "web-01 の SSH がインターネットからパスワード認証で到達可能だった。")
    page.fill("#rv-impact", "不正ログインの試行のみ。侵入・情報漏えいの痕跡なし。")
    page.select_option("#rv-recurrence", "medium")
    page.fill("#rv-reason", "同様の公開サーバが他に 2 台ある。")
    page.click("#review button[type=submit]")
    page.wait_for_url("**?done=saved")
    return incident_id


def take(out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="mamori-shots-") as scratch:
        home = service_home(Path(scratch) / "home")
        auditor = ready(home, "tanaka", Role.AUDITOR)
        admin = ready(home, "sato", Role.ADMIN)
        operator = ready(home, "suzuki", Role.OPERATOR)
        now = dt.datetime.now(dt.UTC)
        seed_tickets(home, now)
        seed_incident(home, now)
        add_token(home, "rsyslog-web-01", "ingest")
        add_token(home, "report-batch", "read", expires_days=30)
        add_device(home, "web-01", address="127.0.0.1")
        add_device(home, "fw-01", address="192.0.2.0/28")
        up = Up(home).wait_ready()
        try:
            url = f"https://127.0.0.1:{up.ports['https']}"
            with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
                lines = sample(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
                s.sendall("".join(line + "\n" for line in lines).encode())
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

                    ctx = browser.new_context(
                        ignore_https_errors=True, locale="ja-JP", viewport=VIEWPORT
                    )
                    page = ctx.new_page()
                    sign_in(page, url, "suzuki", operator)
                    alert_id = brute_force_alert(home)
                    page.goto(f"{url}/alerts")
                    shoot(page, out, "alerts")
                    page.goto(f"{url}/alerts/{alert_id}")
                    shoot(page, out, "alert")
                    incident_id = incident_from_alert(page, url, alert_id)
                    page.goto(f"{url}/incidents")
                    shoot(page, out, "incidents")
                    page.goto(f"{url}/incidents/{incident_id}")
                    shoot(page, out, "incident")
                    page.locator("#timeline").scroll_into_view_if_needed()
                    shoot(page, out, "incident-timeline")
                    page.goto(f"{url}/incidents/{incident_id}/review")
                    shoot(page, out, "review")
                    page.goto(f"{url}/tickets")
                    shoot(page, out, "tickets")
                    page.goto(f"{url}/tickets/stats")
                    shoot(page, out, "ticket-stats")
                    page.goto(f"{url}/lang/en?next={quote(f'/incidents/{incident_id}')}")
                    page.wait_for_selector("html[lang=en]")
                    page.locator("#timeline").scroll_into_view_if_needed()
                    shoot(page, out, "incident-en")
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
