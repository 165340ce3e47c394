"""The console's incidents and service desk with the real access layer, the real incidents
package and a real home over TLS: every route × every role, CSRF, the FLT-1 walk through the
stage buttons, refusals (409 on the page and in the API), skips, CSIRT reports (preview and
send, the sending adapter captured), breaches (LAW-4), the FLT-2 review and countermeasures,
merging, tickets (open, comment, status, monthly figures), the JSON API and its OpenAPI."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from mamori import audit
from mamori.access import add_token
from mamori.access.roles import ROLES, SCOPE_PERMISSIONS, Permission, Role
from mamori.access.sessions import CSRF_FIELD, CSRF_HEADER
from mamori.audit import AuditError
from mamori.home import Home
from mamori.incidents import sending
from mamori.incidents.store import IncidentStore
from tests.alerts.helpers import named
from tests.web.test_alerts_console import new_alert
from tests.web.test_console import Account, Console, accounts, console, csrf_of

__all__ = ["accounts", "console"]  # the fixtures, shared with test_console

CSIRT_TO = "csirt@agency.example.jp"


def configure_csirt(home: Home) -> None:
    """Fill in `[csirt] to` in the home's mamori.toml (reports cannot be sent without it)."""
    lines = home.config_path.read_text(encoding="utf-8").split("\n")
    start = lines.index("[csirt]")
    for i in range(start, len(lines)):
        if lines[i].startswith("to = []"):
            lines[i] = f'to = ["{CSIRT_TO}"]'
            break
    home.config_path.write_text("\n".join(lines), encoding="utf-8")


@pytest.fixture(scope="module", autouse=True)
def csirt_configured(console: Console) -> None:
    configure_csirt(console.home)


@dataclass
class Mail:
    to: tuple[str, ...]
    subject: str
    body: str
    payload: dict[str, Any]


@pytest.fixture
def mails(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Mail]]:
    """What the incidents package hands to its sending adapter (the notifier is not ours)."""
    sent: list[Mail] = []

    def send_mail(
        home: Home,
        to: Any,
        subject: str,
        body: str,
        payload: Any,
        kind: str,
        *,
        cc: Any = (),
        severity: str = "high",
    ) -> None:
        sent.append(Mail(tuple(to), subject, body, dict(payload)))

    monkeypatch.setattr(sending, "send_mail", send_mail)
    yield sent


def csrf(c: httpx.Client) -> str:
    return csrf_of(c.get("/").text)


def form(c: httpx.Client, **fields: str) -> dict[str, str]:
    return {CSRF_FIELD: csrf(c), **fields}


def create(c: httpx.Client, title: str = "Web server down", **fields: str) -> str:
    """A new incident through the form; its id."""
    r = c.post("/incidents/new", data=form(c, title=title, **fields))
    assert r.status_code == 303, r.text[:2000]
    found = re.fullmatch(r"/incidents/(INC-\d{4}-\d{4})\?done=created", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


def problem(page: str) -> str:
    found = re.search(r'id="problem">(.*?)</div>', page, re.DOTALL)
    assert found, "no problem shown"
    return found.group(1)


def new_ticket(c: httpx.Client, subject: str = "VPN が使えない", **fields: str) -> str:
    data = {"category": "inquiry", "subject": subject, "requester": "山田", **fields}
    r = c.post("/tickets/new", data=form(c, **data))
    assert r.status_code == 303, r.text[:2000]
    found = re.fullmatch(r"/tickets/(TKT-\d{4}-\d{4})\?done=opened", r.headers["location"])
    assert found, r.headers["location"]
    return found.group(1)


@pytest.fixture(scope="module")
def incident(console: Console, accounts: dict[Role, Account]) -> str:
    """One incident for the read-only checks."""
    return create(accounts[Role.OPERATOR].client, "Shared incident for the matrix")


@pytest.fixture(scope="module")
def ticket(console: Console, accounts: dict[Role, Account]) -> str:
    return new_ticket(accounts[Role.OPERATOR].client, "Shared ticket for the matrix")


# --- who may do what -------------------------------------------------------------------------

PAGES: list[tuple[str, Permission]] = [
    ("/incidents", Permission.INCIDENTS_READ),
    (
        "/incidents?state=all&stage=detected&priority=P3&category=security",
        Permission.INCIDENTS_READ,
    ),
    ("/incidents/{inc}", Permission.INCIDENTS_READ),
    ("/incidents/{inc}/review", Permission.INCIDENTS_READ),
    ("/incidents/new", Permission.INCIDENTS_MANAGE),
    ("/tickets", Permission.TICKETS_READ),
    ("/tickets?status=all&category=inquiry&priority=P3", Permission.TICKETS_READ),
    ("/tickets/{tkt}", Permission.TICKETS_READ),
    ("/tickets/stats", Permission.TICKETS_READ),
    ("/tickets/new", Permission.TICKETS_MANAGE),
]

POSTS: list[tuple[str, Permission]] = [
    ("/incidents/new", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/step", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/close", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/reopen", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/update", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/breach", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/merge", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/csirt", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/review", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/countermeasures", Permission.INCIDENTS_MANAGE),
    ("/incidents/{inc}/countermeasures/1/done", Permission.INCIDENTS_MANAGE),
    ("/tickets/new", Permission.TICKETS_MANAGE),
    ("/tickets/{tkt}/comment", Permission.TICKETS_MANAGE),
    ("/tickets/{tkt}/status", Permission.TICKETS_MANAGE),
]

API_POSTS: list[tuple[str, Permission, dict[str, Any]]] = [
    ("/api/v1/incidents", Permission.INCIDENTS_MANAGE, {"title": ""}),
    ("/api/v1/incidents/{inc}/steps", Permission.INCIDENTS_MANAGE, {"action": "close"}),
    ("/api/v1/incidents/{inc}/csirt", Permission.INCIDENTS_MANAGE, {"kind": "final"}),
    ("/api/v1/tickets", Permission.TICKETS_MANAGE, {"category": "other", "subject": " "}),
    ("/api/v1/tickets/{tkt}/comments", Permission.TICKETS_MANAGE, {"text": " "}),
    ("/api/v1/tickets/{tkt}/status", Permission.TICKETS_MANAGE, {"status": "new"}),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission"), PAGES)
def test_every_page_x_every_role(
    accounts: dict[Role, Account],
    incident: str,
    ticket: str,
    role: Role,
    path: str,
    permission: Permission,
) -> None:
    r = accounts[role].client.get(path.format(inc=incident, tkt=ticket))
    expected = 200 if permission in ROLES[role] else 403
    assert r.status_code == expected, (role, path, r.status_code, r.text[:300])


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission"), POSTS)
def test_every_post_x_every_role(
    accounts: dict[Role, Account],
    incident: str,
    ticket: str,
    role: Role,
    path: str,
    permission: Permission,
) -> None:
    """Refused (403) without the permission even with the CSRF token; with it, the empty
    form is refused by the service or the form check (400, 409) or does nothing harmful."""
    c = accounts[role].client
    r = c.post(path.format(inc=incident, tkt=ticket), data=form(c))
    if permission in ROLES[role]:
        assert r.status_code in {200, 303, 400, 404, 409}, (role, path, r.status_code)
    else:
        assert r.status_code == 403, (role, path, r.status_code)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission", "body"), API_POSTS)
def test_every_api_post_x_every_role(
    accounts: dict[Role, Account],
    incident: str,
    ticket: str,
    role: Role,
    path: str,
    permission: Permission,
    body: dict[str, Any],
) -> None:
    c = accounts[role].client
    r = c.post(path.format(inc=incident, tkt=ticket), json=body, headers={CSRF_HEADER: csrf(c)})
    if permission in ROLES[role]:
        assert r.status_code in {400, 409}, (role, path, r.status_code, r.text)
    else:
        assert r.status_code == 403, (role, path, r.status_code)
        assert permission.value in r.json()["error"]


@pytest.mark.parametrize(("path", "permission"), POSTS)
def test_every_post_needs_the_csrf_token(
    accounts: dict[Role, Account], incident: str, ticket: str, path: str, permission: Permission
) -> None:
    c = accounts[Role.OPERATOR].client
    target = path.format(inc=incident, tkt=ticket)
    assert c.post(target, data={"title": "x", "stage": "isolated"}).status_code == 403
    assert c.post(target, data={"title": "x", CSRF_FIELD: "forged"}).status_code == 403


@pytest.mark.parametrize(("path", "permission", "body"), API_POSTS)
def test_every_api_post_needs_the_csrf_header(
    accounts: dict[Role, Account],
    incident: str,
    ticket: str,
    path: str,
    permission: Permission,
    body: dict[str, Any],
) -> None:
    c = accounts[Role.OPERATOR].client
    for headers in ({}, {CSRF_HEADER: "forged"}):
        r = c.post(path.format(inc=incident, tkt=ticket), json=body, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.json()["error"], (path, r.text)


def test_nobody_signed_in(console: Console, incident: str) -> None:
    with console.client() as c:
        for path in ("/incidents", f"/incidents/{incident}", "/tickets", "/tickets/stats"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
        for path in ("/api/v1/incidents", f"/api/v1/incidents/{incident}", "/api/v1/tickets"):
            api = c.get(path)
            assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
        assert c.post("/api/v1/incidents", json={"title": "x"}).status_code == 401


def test_a_read_token_reads_as_its_scope_allows_and_changes_nothing(
    console: Console, incident: str, ticket: str
) -> None:
    token = add_token(console.home, "incidents-automation", "read")
    scope = SCOPE_PERMISSIONS["read"]
    with console.client() as c:
        auth = {"Authorization": f"Bearer {token}"}
        for path, permission in [
            ("/api/v1/incidents", Permission.INCIDENTS_READ),
            (f"/api/v1/incidents/{incident}", Permission.INCIDENTS_READ),
            ("/api/v1/tickets", Permission.TICKETS_READ),
            (f"/api/v1/tickets/{ticket}", Permission.TICKETS_READ),
        ]:
            r = c.get(path, headers=auth)
            assert r.status_code == (200 if permission in scope else 403), (path, r.text)
        for path, permission, body in API_POSTS:
            assert permission not in scope
            r = c.post(path.format(inc=incident, tkt=ticket), json=body, headers=auth)
            assert r.status_code in {400, 403}, (path, r.text)  # 400: a body not valid at all
        r = c.post("/api/v1/incidents", json={"title": "x"}, headers=auth)
        assert r.status_code == 403 and "incidents.manage" in r.json()["error"]


def test_the_nav_links_each_page_only_to_roles_that_may(accounts: dict[Role, Account]) -> None:
    for role, account in accounts.items():
        page = account.client.get("/").text
        assert ('href="/incidents"' in page) == (Permission.INCIDENTS_READ in ROLES[role]), role
        assert ('href="/tickets"' in page) == (Permission.TICKETS_READ in ROLES[role]), role


def test_an_unknown_incident_or_ticket_is_a_404(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    assert c.get("/incidents/INC-1999-9999").status_code == 404
    assert c.get("/incidents/INC-1999-9999/review").status_code == 404
    assert c.get("/tickets/TKT-1999-9999").status_code == 404
    assert c.post("/incidents/INC-1999-9999/close", data=form(c)).status_code == 404
    assert c.get("/incidents/not-an-id").status_code == 400
    assert c.get("/api/v1/incidents/INC-1999-9999").status_code == 404
    assert c.get("/api/v1/tickets/TKT-1999-9999").json()["error"].startswith("there is no")


# --- the auditor reads, changes nothing ----------------------------------------------------------


def test_the_auditor_sees_the_pages_without_forms(
    accounts: dict[Role, Account], incident: str, ticket: str
) -> None:
    c = accounts[Role.AUDITOR].client
    listing = c.get("/incidents").text
    assert f'href="/incidents/{incident}"' in listing and 'id="new-incident"' not in listing
    page = c.get(f"/incidents/{incident}").text
    assert 'id="timeline"' in page
    assert "<form" not in page.split("</header>")[1]  # only the sign-out form, in the header
    review = c.get(f"/incidents/{incident}/review").text
    assert 'id="review-text"' in review and "<form" not in review.split("</header>")[1]
    tickets = c.get("/tickets").text
    assert 'id="new-ticket"' not in tickets
    one = c.get(f"/tickets/{ticket}").text
    assert 'id="comment"' not in one and 'id="status-change"' not in one
    assert c.post(f"/incidents/{incident}/step", data=form(c, stage="isolated")).status_code == 403


# --- opening an incident ------------------------------------------------------------------------


def test_create_by_form_in_japanese_first(console: Console, accounts: dict[Role, Account]) -> None:
    account = accounts[Role.OPERATOR]
    c = account.client
    blank = c.get("/incidents/new").text
    assert "<h1>インシデントを起票する</h1>" in blank
    assert 'id="breach-fields"' in blank and "個人情報の漏えい等（LAW-4）" in blank
    iid = create(
        c,
        "公開Webサーバの応答停止",
        description="外部から 503",
        category="failure",
        urgency="high",
        impact="high",
        assignee="佐藤",
    )
    page = c.get(f"/incidents/{iid}?done=created").text
    assert 'id="done">インシデントを起票しました。' in page
    assert "公開Webサーバの応答停止" in page and "外部から 503" in page
    assert 'id="priority"><span class="priority priority-p1">P1</span>' in page
    assert 'id="category">障害' in page and 'id="stage">検知' in page and "佐藤" in page
    timeline = page.split('id="timeline"')[1].split("</ol>")[0]
    for name in ("検知", "切り分け", "保守事業者連絡", "復旧確認", "報告"):
        assert name in timeline
    assert 'id="step-next"' in page and "記録する：切り分け" in page
    assert 'id="step-skip"' in page and 'id="close"' not in page and 'id="reopen"' not in page
    listing = c.get("/incidents").text.split('id="incidents"')[1]
    assert f'href="/incidents/{iid}"' in listing and "検知" in listing
    created = [f for f in named(console.home, "incident.created") if f["incident"] == iid]
    assert created[0]["actor"] == account.name and created[0]["priority"] == "P1"
    english = c.get(f"/incidents/{iid}", headers={"Accept-Language": "en"}).text
    assert "Detection" in english and "Record: Isolation" in english


def test_a_refused_create_keeps_the_form(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    r = c.post("/incidents/new", data=form(c, title="", description="残す文章"))
    assert r.status_code == 409
    assert "変更は受け付けられませんでした" in problem(r.text)
    assert "needs a title or at least one alert" in problem(r.text)
    assert "残す文章" in r.text
    bad = c.post("/incidents/new", data=form(c, title="x", urgency="extreme"))
    assert bad.status_code == 400 and "フォームに使用できない値" in problem(bad.text)


def test_line_breaks_from_a_browser_are_kept(accounts: dict[Role, Account]) -> None:
    """Regression: a textarea's line breaks arrive as CRLF, which the incidents package
    refuses as a control character; the console sends them as LF."""
    c = accounts[Role.OPERATOR].client
    iid = create(c, "改行", description="一行目\r\n二行目")
    assert "一行目\n二行目" in c.get(f"/incidents/{iid}").text
    tid = new_ticket(c, "改行のあるコメント")
    r = c.post(f"/tickets/{tid}/comment", data=form(c, text="a\r\nb"))
    assert r.status_code == 303 and "a\nb" in c.get(f"/tickets/{tid}").text


def test_create_from_an_alert(console: Console, accounts: dict[Role, Account]) -> None:
    alert_id = new_alert(console, "critical")
    c = accounts[Role.CSIRT].client
    page = c.get(f"/incidents/new?alert={alert_id}").text
    assert f'name="alerts" type="text" maxlength="1000" value="{alert_id}"' in page
    r = c.post("/incidents/new", data=form(c, alerts=str(alert_id)))
    assert r.status_code == 303, r.text[:2000]
    iid = r.headers["location"].split("?")[0].rsplit("/", 1)[1]
    shown = c.get(f"/incidents/{iid}").text
    assert "SSH brute force" in shown and f'href="/alerts/{alert_id}"' in shown
    assert "P1" in shown  # critical: high × high
    alert_page = c.get(f"/alerts/{alert_id}").text
    assert f'href="/incidents/{iid}"' in alert_page
    again = c.post("/incidents/new", data=form(c, alerts=str(alert_id)))
    assert again.status_code == 409 and f"already belongs to {iid}" in again.text


# --- the FLT-1 walk ----------------------------------------------------------------------------


def test_walk_through_the_stages_with_the_buttons(
    console: Console, accounts: dict[Role, Account]
) -> None:
    account = accounts[Role.OPERATOR]
    c = account.client
    iid = create(c, "段階を進める", urgency="medium", impact="medium")  # P3: no review needed
    for stage, name in [
        ("isolated", "切り分け"),
        ("vendor_contacted", "保守事業者連絡"),
        ("recovery_confirmed", "復旧確認"),
        ("reported", "報告"),
    ]:
        page = c.get(f"/incidents/{iid}").text
        step_form = page.split('id="step-next"')[1].split("</form>")[0]
        assert f'name="stage" value="{stage}"' in step_form
        r = c.post(f"/incidents/{iid}/step", data=form(c, stage=stage, note=f"{name} 済み"))
        assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}?done=stepped"
        shown = c.get(r.headers["location"]).text
        assert f'id="stage">{name}' in shown and f"{name} 済み" in shown
    page = c.get(f"/incidents/{iid}").text
    assert 'id="step-next"' not in page and 'id="close"' in page and 'id="reopen"' in page
    timers = page.split('id="timers"')[1].split("</table>")[0]
    assert "達成" in timers
    r = c.post(f"/incidents/{iid}/close", data=form(c, note="対応完了"))
    assert r.status_code == 303 and r.headers["location"].endswith("?done=closed")
    closed = c.get(f"/incidents/{iid}").text
    assert 'id="stage">完了' in closed and 'id="stage-closed"' in closed
    assert 'id="update"' not in closed and 'id="reopen"' in closed
    assert f'href="/incidents/{iid}"' not in c.get("/incidents").text
    assert f'href="/incidents/{iid}"' in c.get("/incidents?state=closed").text
    no_reason = c.post(f"/incidents/{iid}/reopen", data=form(c, reason=" "))
    assert no_reason.status_code == 409 and "reopening needs a reason" in no_reason.text
    r = c.post(f"/incidents/{iid}/reopen", data=form(c, reason="再発した"))
    assert r.status_code == 303
    assert 'id="stage">切り分け' in c.get(f"/incidents/{iid}").text
    stages = [f for f in named(console.home, "incident.stage") if f["incident"] == iid]
    assert [f["stage"] for f in stages] == [
        "isolated",
        "vendor_contacted",
        "recovery_confirmed",
        "reported",
    ]
    assert {f["actor"] for f in stages} == {account.name}
    reopened = [f for f in named(console.home, "incident.reopened") if f["incident"] == iid]
    assert reopened[0]["reason"] == "再発した"


def test_a_refused_transition_shows_the_message(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.CSIRT].client
    iid = create(c, "戻れない")
    assert c.post(f"/incidents/{iid}/step", data=form(c, stage="isolated")).status_code == 303
    r = c.post(f"/incidents/{iid}/step", data=form(c, stage="isolated"))
    assert r.status_code == 409
    shown = problem(r.text)
    assert "変更は受け付けられませんでした" in shown and "already at isolated" in shown
    assert 'lang="en"' in shown
    english = c.post(f"/incidents/{iid}/close", data=form(c), headers={"Accept-Language": "en"})
    assert english.status_code == 409
    assert "The change was refused" in problem(english.text)
    assert "closed only after it was reported" in problem(english.text)
    api = c.post(
        f"/api/v1/incidents/{iid}/steps",
        json={"stage": "isolated"},
        headers={CSRF_HEADER: csrf(c)},
    )
    assert api.status_code == 409 and "already at isolated" in api.json()["error"]
    assert set(api.json()) == {"error", "hint"}


def test_a_change_whose_audit_event_is_lost_says_so(
    accounts: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The step stands but the outbox refused its event: not "refused, nothing changed"."""
    c = accounts[Role.OPERATOR].client
    iid = create(c, "監査イベント")
    token = csrf(c)

    def broken(*args: Any, **kwargs: Any) -> None:
        raise AuditError("the outbox is full", hint="free disk space")

    monkeypatch.setattr(audit, "record", broken)
    r = c.post(f"/incidents/{iid}/step", data={CSRF_FIELD: token, "stage": "isolated"})
    assert r.status_code == 500
    shown = problem(r.text)
    assert "監査イベントを記録できませんでした" in shown and "the outbox is full" in shown
    api = c.post(
        f"/api/v1/incidents/{iid}/steps",
        json={"stage": "vendor_contacted"},
        headers={CSRF_HEADER: token},
    )
    assert api.status_code == 500 and "could not be recorded" in api.json()["error"]
    monkeypatch.undo()
    assert 'id="stage">保守事業者連絡' in c.get(f"/incidents/{iid}").text


def test_skip_with_a_reason(console: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    iid = create(c, "省略する")
    page = c.get(f"/incidents/{iid}").text
    skip = page.split('id="step-skip"')[1].split("</form>")[0]
    assert 'value="recovery_confirmed"' in skip and 'value="isolated"' not in skip
    no_reason = c.post(f"/incidents/{iid}/step", data=form(c, stage="recovery_confirmed"))
    assert no_reason.status_code == 409 and "needs a reason" in no_reason.text
    r = c.post(
        f"/incidents/{iid}/step",
        data=form(c, stage="recovery_confirmed", skip_reason="保守事業者の対応は不要"),
    )
    assert r.status_code == 303
    shown = c.get(f"/incidents/{iid}").text
    timeline = shown.split('id="timeline"')[1].split("</ol>")[0]
    assert timeline.count('class="skipped"') == 2 and "保守事業者の対応は不要" in timeline
    assert 'id="stage-recovery_confirmed"' in timeline
    skipped = [f for f in named(console.home, "incident.skipped") if f["incident"] == iid]
    assert [f["stage"] for f in skipped] == ["isolated", "vendor_contacted"]


def test_update_and_merge(console: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    keep = create(c, "統合先", urgency="low", impact="low")
    other = create(c, "統合元", urgency="high", impact="medium")
    r = c.post(
        f"/incidents/{keep}/update",
        data=form(c, urgency="medium", impact="high", assignee="鈴木", description="新しい説明"),
    )
    assert r.status_code == 303 and r.headers["location"].endswith("?done=updated")
    page = c.get(f"/incidents/{keep}").text
    assert "P2" in page and "鈴木" in page and "新しい説明" in page
    same = c.post(
        f"/incidents/{keep}/update",
        data=form(c, urgency="medium", impact="high", assignee="鈴木", description="新しい説明"),
    )
    assert same.status_code == 409 and "nothing to change" in same.text
    merge_form = c.get(f"/incidents/{other}").text.split('id="merge"')[1]
    assert f'value="{keep}"' in merge_form
    r = c.post(f"/incidents/{other}/merge", data=form(c, into=keep, note="同一事象"))
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{keep}?done=merged"
    kept = c.get(r.headers["location"]).text
    assert f'id="merged-from"><a href="/incidents/{other}"' in kept
    assert "P1" in kept  # the higher urgency (high) with impact high
    gone = c.get(f"/incidents/{other}").text
    assert f'id="merged-into"><a href="/incidents/{keep}"' in gone and 'id="stage">完了' in gone
    merged = [f for f in named(console.home, "incident.merged") if f["incident"] == keep]
    assert merged[0]["merged"] == other


# --- CSIRT reports and breaches ----------------------------------------------------------------


def test_csirt_preview_then_send(
    console: Console, accounts: dict[Role, Account], mails: list[Mail]
) -> None:
    account = accounts[Role.CSIRT]
    c = account.client
    iid = create(c, "CSIRT へ報告する", urgency="high", impact="medium")
    page = c.get(f"/incidents/{iid}").text
    assert 'id="no-csirt"' in page and 'value="first" selected' in page
    r = c.post(f"/incidents/{iid}/csirt", data=form(c, kind="first", text="補足の文章", preview=""))
    assert r.status_code == 200 and mails == []
    preview = r.text.split('id="csirt-preview"')[1].split("</div>")[0]
    assert "第1報" in preview and "補足の文章" in preview and iid in preview
    assert ">補足の文章</textarea>" in r.text  # the form keeps the text
    r = c.post(f"/incidents/{iid}/csirt", data=form(c, kind="first", text="補足の文章"))
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}?done=sent#csirt"
    assert len(mails) == 1 and mails[0].to == (CSIRT_TO,) and "第1報" in mails[0].subject
    assert "補足の文章" in mails[0].body and mails[0].payload["incident"] == iid
    shown = c.get(f"/incidents/{iid}").text
    listed = shown.split('id="csirt-messages"')[1].split("</table>")[0]
    assert "第1報（速報）" in listed and account.name in listed and mails[0].subject in listed
    assert 'value="followup" selected' in shown
    again = c.post(f"/incidents/{iid}/csirt", data=form(c, kind="first"))
    assert again.status_code == 409 and "already sent" in again.text and len(mails) == 1
    final = c.post(f"/incidents/{iid}/csirt", data=form(c, kind="final", text="最後"))
    assert final.status_code == 409 and "after recovery is confirmed" in final.text
    assert ">最後</textarea>" in final.text
    api = c.post(
        f"/api/v1/incidents/{iid}/csirt",
        json={"kind": "followup", "text": "続報です"},
        headers={CSRF_HEADER: csrf(c)},
    )
    assert api.status_code == 201, api.text
    assert api.json()["number"] == 2 and api.json()["kind"] == "followup"
    assert len(mails) == 2 and "続報です" in mails[1].body
    sent = [f for f in named(console.home, "incident.csirt_sent") if f["incident"] == iid]
    assert [f["number"] for f in sent] == [1, 2] and sent[0]["actor"] == account.name


def test_a_breach_needs_law4_fields_and_reports_at_once(
    console: Console, accounts: dict[Role, Account], mails: list[Mail]
) -> None:
    c = accounts[Role.OPERATOR].client
    r = c.post(
        "/incidents/new",
        data=form(c, title="顧客情報の漏えい", category="breach", what_happened="誤送信"),
    )
    assert r.status_code == 409 and "LAW-4" in problem(r.text) and mails == []
    assert ">誤送信</textarea>" in r.text
    fields = {
        "what_happened": "メールの誤送信",
        "damage": "調査中",
        "containment": "送信先へ削除を依頼",
        "recovery": "送信設定を見直し",
        "persons_response": "本人へ連絡予定",
        "persons_affected": "12",
        "data_items": "氏名、メールアドレス",
    }
    iid = create(c, "顧客情報の漏えい", category="breach", **fields)
    assert len(mails) == 1 and "第1報" in mails[0].subject
    page = c.get(f"/incidents/{iid}").text
    details = page.split('id="breach-details"')[1].split("</dl>")[0]
    assert "メールの誤送信" in details and "12" in details and "氏名, メールアドレス" in details
    assert "個人情報の漏えい等（LAW-4）" in page and "CSIRTへの第1報（個人情報）" in page
    r = c.post(f"/incidents/{iid}/breach", data=form(c, **{**fields, "damage": "12名分が流出"}))
    assert r.status_code == 303 and r.headers["location"].endswith("?done=breach")
    assert "12名分が流出" in c.get(f"/incidents/{iid}").text
    bad = c.post(f"/incidents/{iid}/breach", data=form(c, **{**fields, "persons_affected": "x"}))
    assert bad.status_code == 400


# --- the review (FLT-2) ------------------------------------------------------------------------


def test_review_and_countermeasures_then_close(
    console: Console, accounts: dict[Role, Account]
) -> None:
    account = accounts[Role.CSIRT]
    c = account.client
    iid = create(c, "レビューが要る", urgency="high", impact="medium")  # P2
    earlier = create(c, "レビューが要る 以前の件", urgency="low", impact="low")
    r = c.post(f"/incidents/{iid}/step", data=form(c, stage="reported", skip_reason="一括"))
    assert r.status_code == 303
    page = c.get(f"/incidents/{iid}").text
    assert 'id="close"' not in page and 'id="close-needs-review"' in page
    assert c.post(f"/incidents/{iid}/close", data=form(c)).status_code == 409
    review = c.get(f"/incidents/{iid}/review").text
    assert "<h1>" + f"{iid} の事後レビュー</h1>" in review and 'id="review"' in review
    data = {
        "cause": "設定誤り",
        "impact": "30分停止",
        "recurrence": "medium",
        "recurrence_reason": "手順が未整備",
        "complete": "on",
    }
    r = c.post(f"/incidents/{iid}/review", data=form(c, **data))
    assert r.status_code == 409 and "permanent countermeasure" in problem(r.text)
    assert ">設定誤り</textarea>" in r.text  # what was typed is kept
    yesterday = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
    r = c.post(
        f"/incidents/{iid}/countermeasures",
        data=form(c, text="手順書を整備", owner="運用チーム", due=yesterday),
    )
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}/review?done=added"
    bad_date = c.post(
        f"/incidents/{iid}/countermeasures", data=form(c, text="x", owner="y", due="soon")
    )
    assert bad_date.status_code == 400
    shown = c.get(f"/incidents/{iid}/review").text
    table = shown.split('id="countermeasures"')[1].split("</table>")[0]
    assert 'class="overdue"' in table and "期限超過" in table and "手順書を整備" in table
    r = c.post(f"/incidents/{iid}/review", data=form(c, **data))
    assert r.status_code == 303 and r.headers["location"].endswith("?done=saved")
    done = c.get(f"/incidents/{iid}/review").text
    assert 'id="review-completed">完了' in done and account.name in done
    assert f'href="/incidents/{earlier}"' not in done  # opened later: not a past occurrence
    cm_id = re.search(r"/countermeasures/(\d+)/done", done)
    assert cm_id
    r = c.post(f"/incidents/{iid}/countermeasures/{cm_id.group(1)}/done", data=form(c))
    assert r.status_code == 303
    finished = c.get(f"/incidents/{iid}/review").text.split('id="countermeasures"')[1]
    assert 'class="overdue"' not in finished.split("</table>")[0]
    page = c.get(f"/incidents/{iid}").text
    assert 'id="close"' in page
    assert c.post(f"/incidents/{iid}/close", data=form(c)).status_code == 303
    reviews = [f for f in named(console.home, "incident.review") if f["incident"] == iid]
    assert reviews[-1]["completed"] is True and reviews[-1]["actor"] == account.name


def test_past_occurrences_link_earlier_incidents(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    first = create(c, "DNS 応答遅延 本番")
    later = create(c, "DNS 応答遅延 本番 再発")
    page = c.get(f"/incidents/{later}/review").text
    past = page.split('id="past"')[1].split("</table>")[0]
    assert f'href="/incidents/{first}"' in past and "<code>title</code>" in past


def test_a_countermeasure_of_another_incident_is_a_404(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.OPERATOR].client
    one = create(c, "対策あり")
    other = create(c, "対策なし")
    r = c.post(
        f"/incidents/{one}/countermeasures",
        data=form(c, text="監視追加", owner="運用", due="2099-01-01"),
    )
    assert r.status_code == 303
    with IncidentStore.open(console.home) as store:
        cm = store.countermeasures(store.get(one).id)[0]
    assert (
        c.post(f"/incidents/{other}/countermeasures/{cm.id}/done", data=form(c)).status_code == 404
    )


# --- tickets ------------------------------------------------------------------------------------


def test_tickets_open_comment_status(console: Console, accounts: dict[Role, Account]) -> None:
    account = accounts[Role.AGENCY]
    c = account.client
    blank = c.get("/tickets/new").text
    assert f'name="requester" type="text" maxlength="200" value="{account.name}"' in blank
    tid = new_ticket(c, "帳票が出力できない", category="failure", priority="P2")
    page = c.get(f"/tickets/{tid}?done=opened").text
    assert 'id="done">チケットを起票しました。' in page and 'id="status">新規' in page
    assert "障害" in page and "P2" in page
    buttons = page.split('id="status-change"')[1].split("</form>")[0]
    assert 'value="in_progress"' in buttons and 'value="closed"' not in buttons
    operator = accounts[Role.OPERATOR].client
    r = operator.post(f"/tickets/{tid}/comment", data=form(operator, text="確認します"))
    assert r.status_code == 303 and r.headers["location"] == f"/tickets/{tid}?done=commented"
    shown = operator.get(f"/tickets/{tid}").text
    assert "確認します" in shown
    first = shown.split('id="first-response"')[1].split("</tr>")[0]
    assert "達成" in first
    for status in ("in_progress", "resolved"):
        r = operator.post(f"/tickets/{tid}/status", data=form(operator, status=status))
        assert r.status_code == 303
    refused = operator.post(f"/tickets/{tid}/status", data=form(operator, status="waiting"))
    assert refused.status_code == 409 and "cannot go from resolved to waiting" in refused.text
    no_note = operator.post(f"/tickets/{tid}/status", data=form(operator, status="in_progress"))
    assert no_note.status_code == 409 and "needs a reason" in no_note.text
    r = operator.post(
        f"/tickets/{tid}/status", data=form(operator, status="in_progress", note="再発")
    )
    assert r.status_code == 303
    assert 'id="status">対応中' in operator.get(f"/tickets/{tid}").text
    listing = c.get("/tickets", params={"category": "failure"}).text
    assert f'href="/tickets/{tid}"' in listing
    assert f'href="/tickets/{tid}"' not in c.get("/tickets", params={"priority": "P5"}).text
    opened = [f for f in named(console.home, "ticket.opened") if f["ticket"] == tid]
    assert opened[0]["actor"] == account.name and opened[0]["requester"] == "山田"
    reopened = [f for f in named(console.home, "ticket.reopened") if f["ticket"] == tid]
    assert reopened[0]["actor"] == accounts[Role.OPERATOR].name


def test_the_monthly_figures(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    new_ticket(c, "統計用")
    month = dt.datetime.now(dt.UTC).astimezone().strftime("%Y-%m")
    page = c.get("/tickets/stats").text
    assert "サービスデスク：月次集計" in page and 'id="times-first_response"' in page
    opened = page.split('id="opened"')[1].split("</dl>")[0]
    assert re.search(r"<dd>\d+</dd>", opened)
    assert c.get("/tickets/stats", params={"month": "1999-01"}).status_code == 200
    bad = c.get("/tickets/stats", params={"month": "2026-13"})
    assert bad.status_code == 400 and "YYYY-MM" in bad.text
    assert month[:4] in page


# --- the JSON API -------------------------------------------------------------------------------


def test_the_incidents_api(console: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    headers = {CSRF_HEADER: csrf(c)}
    r = c.post(
        "/api/v1/incidents",
        json={"title": "API で起票", "urgency": "low", "impact": "medium", "hosts": ["db-01"]},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    iid = body["id"]
    assert body["priority"] == "P4" and body["stage"] == "detected" and body["problems"] == []
    assert body["path"] == f"/incidents/{iid}" and body["hosts"] == ["db-01"]
    assert {t["name"] for t in body["timers"]} >= {"response", "resolution"}
    listed = c.get("/api/v1/incidents", params={"priority": "P4", "stage": "detected"}).json()
    assert iid in [i["id"] for i in listed["incidents"]]
    one = c.get(f"/api/v1/incidents/{iid}").json()
    assert one["csirt_messages"] == [] and one["countermeasures"] == []
    step = c.post(
        f"/api/v1/incidents/{iid}/steps",
        json={"stage": "reported", "reason": "API で一括"},
        headers=headers,
    )
    assert step.status_code == 200, step.text
    kinds = [s["kind"] for s in step.json()["steps"]]
    assert kinds == ["detected", "skipped", "skipped", "skipped", "reached"]
    no_stage = c.post(f"/api/v1/incidents/{iid}/steps", json={}, headers=headers)
    assert no_stage.status_code == 400
    closed = c.post(f"/api/v1/incidents/{iid}/steps", json={"action": "close"}, headers=headers)
    assert closed.status_code == 200 and closed.json()["stage"] == "closed"
    again = c.post(f"/api/v1/incidents/{iid}/steps", json={"action": "close"}, headers=headers)
    assert again.status_code == 409 and "closed" in again.json()["error"]
    reopen = c.post(
        f"/api/v1/incidents/{iid}/steps",
        json={"action": "reopen", "reason": "API 再開"},
        headers=headers,
    )
    assert reopen.status_code == 200 and reopen.json()["stage"] == "isolated"
    assert c.get("/api/v1/incidents", params={"state": "closed"}).status_code == 200
    assert c.get("/api/v1/incidents", params={"state": "new"}).status_code == 400
    refused = c.post(
        "/api/v1/incidents", json={"category": "breach", "title": "x"}, headers=headers
    )
    assert refused.status_code == 409 and "LAW-4" in refused.json()["error"]


def test_the_tickets_api(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.AGENCY].client
    headers = {CSRF_HEADER: csrf(c)}
    r = c.post(
        "/api/v1/tickets",
        json={"category": "request", "subject": "アカウント追加", "urgency": "high"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    t = r.json()
    tid = t["id"]
    assert t["requester"] == "matrix-agency" and t["priority"] == "P2" and t["status"] == "new"
    assert t["next_statuses"] == ["in_progress", "waiting", "resolved"]
    both = c.post(
        "/api/v1/tickets",
        json={"category": "request", "subject": "x", "priority": "P1", "urgency": "high"},
        headers=headers,
    )
    assert both.status_code == 409 and "not both" in both.json()["error"]
    assert tid in [x["id"] for x in c.get("/api/v1/tickets").json()["tickets"]]
    assert c.get("/api/v1/tickets", params={"status": "all", "limit": 1}).status_code == 200
    comment = c.post(f"/api/v1/tickets/{tid}/comments", json={"text": "追記"}, headers=headers)
    assert comment.status_code == 200 and comment.json()["log"][0]["text"] == "追記"
    assert comment.json()["first_response_at"] is None  # the requester's own comment
    status = c.post(f"/api/v1/tickets/{tid}/status", json={"status": "closed"}, headers=headers)
    assert status.status_code == 409 and "cannot go from new to closed" in status.json()["error"]
    status = c.post(f"/api/v1/tickets/{tid}/status", json={"status": "resolved"}, headers=headers)
    assert status.status_code == 200 and status.json()["resolved_at"] is not None
    log = c.get(f"/api/v1/tickets/{tid}").json()["log"]
    assert log[-1]["from"] == "new" and log[-1]["to"] == "resolved"


def test_the_openapi_describes_the_api(console: Console) -> None:
    with console.client() as c:
        spec = c.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/incidents"]) == {"get", "post"}
    assert set(paths["/api/v1/incidents/{incident_id}"]) == {"get"}
    assert set(paths["/api/v1/incidents/{incident_id}/steps"]) == {"post"}
    assert set(paths["/api/v1/incidents/{incident_id}/csirt"]) == {"post"}
    assert set(paths["/api/v1/tickets"]) == {"get", "post"}
    assert set(paths["/api/v1/tickets/{ticket_id}"]) == {"get"}
    assert set(paths["/api/v1/tickets/{ticket_id}/comments"]) == {"post"}
    assert set(paths["/api/v1/tickets/{ticket_id}/status"]) == {"post"}
    steps = paths["/api/v1/incidents/{incident_id}/steps"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(steps["responses"])
    assert steps["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ErrorModel"
    )
    listing = paths["/api/v1/incidents"]["get"]["responses"]["200"]
    assert listing["content"]["application/json"]["schema"]["$ref"].endswith("/IncidentListModel")
    schemas = spec["components"]["schemas"]
    assert {
        "IncidentModel",
        "IncidentDetailModel",
        "TimerModel",
        "StepBody",
        "CsirtBody",
        "TicketModel",
        "StatusBody",
    } <= set(schemas)
    assert not any(p.startswith("/incidents") or p.startswith("/tickets") for p in paths)


@pytest.mark.parametrize("path", ["/api/v1/incidents", "/api/v1/tickets"])
@pytest.mark.parametrize("method", ["OPTIONS", "PUT", "DELETE"])
def test_a_path_with_get_and_post_allows_both(console: Console, path: str, method: str) -> None:
    """Regression: Starlette's 405 named only the first route's method (`Allow: GET`)."""
    with console.client() as c:
        r = c.request(method, path, headers={"Accept": "application/json"})
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
