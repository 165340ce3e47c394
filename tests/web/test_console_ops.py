"""The console's operations and administration pages with the real access layer and a real
home over TLS: the dashboard's rate, spool and alerts; the ledger page and a verification run
(OK on an intact ledger, FAILED after tampering); the audit trail; users, devices and tokens.
Every new route × every role, and every new POST without its CSRF token."""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Iterator

import httpx
import pytest

from mamori import audit
from mamori.access import add_user
from mamori.access.roles import ROLES, Permission, Role
from mamori.access.sessions import CSRF_FIELD
from mamori.access.tokens import TokenVerifier
from mamori.home import Home, initialise
from mamori.ledger.writer import Sequencer, put_meta
from mamori.service.metrics import Metrics
from mamori.service.sink import OUTBOX_HWM
from mamori.web import WebContext, create_app
from tests.ledger.ledgerutil import tamper
from tests.web.conftest import MAX_BODY, Cert, FakeSink, FakeSources, ServerThread
from tests.web.test_console import (
    NEW_PASSWORD,
    Account,
    Console,
    _event,
    accounts,
    console,
    csrf_of,
    ready,
)

__all__ = ["accounts", "console"]  # the fixtures, shared with test_console


def drain(home: Home) -> None:
    """Append the outbox's audit events to the ledger, as `mamori up`'s writer does."""
    with Sequencer(home) as seq:
        after = int(seq.meta(OUTBOX_HWM) or 0)
        rows = audit.pending(home, after, 1000)
        if not rows:
            return
        pairs = [(OUTBOX_HWM, str(rows[-1][0]))]
        seq.commit([e for _i, e in rows], also=lambda conn, _f: put_meta(conn, pairs))
    audit.prune(home, rows[-1][0])


def outbox_actions(home: Home) -> list[bytes]:
    return [event for _i, event in audit.pending(home, 0, 10_000)]


def csrf(c: httpx.Client) -> str:
    return csrf_of(c.get("/").text)


# --- authorisation matrix ----------------------------------------------------------------------

GETS: list[tuple[str, Permission]] = [
    ("/ledger", Permission.LEDGER_READ),
    ("/ledger?before=5", Permission.LEDGER_READ),
    ("/ledger/verify/status", Permission.LEDGER_VERIFY),
    ("/audit", Permission.AUDIT_READ),
    ("/audit?action=role.granted&user=admin", Permission.AUDIT_READ),
    ("/admin/users", Permission.USERS_READ),
    ("/admin/devices", Permission.DEVICES_READ),
    ("/admin/tokens", Permission.TOKENS_READ),
]

POSTS: list[tuple[str, Permission]] = [
    ("/ledger/verify", Permission.LEDGER_VERIFY),
    ("/admin/users/add", Permission.USERS_MANAGE),
    ("/admin/users/reset", Permission.USERS_MANAGE),
    ("/admin/users/disable", Permission.USERS_MANAGE),
    ("/admin/users/role", Permission.ROLES_GRANT),
    ("/admin/devices/add", Permission.DEVICES_MANAGE),
    ("/admin/devices/revoke", Permission.DEVICES_MANAGE),
    ("/admin/tokens/add", Permission.TOKENS_MANAGE),
    ("/admin/tokens/revoke", Permission.TOKENS_MANAGE),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission"), GETS)
def test_every_new_page_x_every_role(
    accounts: dict[Role, Account], role: Role, path: str, permission: Permission
) -> None:
    r = accounts[role].client.get(path)
    expected = 200 if permission in ROLES[role] else 403
    assert r.status_code == expected, (role, path, r.status_code, r.text[:300])


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission"), POSTS)
def test_every_new_post_x_every_role(
    accounts: dict[Role, Account], role: Role, path: str, permission: Permission
) -> None:
    """A role without the permission is refused even with the right CSRF token (the
    fields name nobody, so an allowed role's change is refused by the access layer: 400)."""
    c = accounts[role].client
    r = c.post(path, data={CSRF_FIELD: csrf(c), "name": "", "role": ""})
    if permission in ROLES[role]:
        assert r.status_code in {200, 303, 400}, (role, path, r.status_code, r.text[:300])
    else:
        assert r.status_code == 403, (role, path, r.status_code)


@pytest.mark.parametrize(("path", "permission"), POSTS)
def test_every_new_post_needs_the_csrf_token(
    accounts: dict[Role, Account], path: str, permission: Permission
) -> None:
    role = next(r for r in Role if permission in ROLES[r])
    c = accounts[role].client
    assert c.post(path, data={"name": "x"}).status_code == 403
    assert c.post(path, data={"name": "x", CSRF_FIELD: "forged"}).status_code == 403


@pytest.mark.parametrize(("path", "permission"), GETS)
def test_nobody_signed_in_is_sent_to_sign_in(
    console: Console, path: str, permission: Permission
) -> None:
    with console.client() as c:
        r = c.get(path)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/signin?next=%2F")


def test_the_nav_links_each_page_only_to_roles_that_may(accounts: dict[Role, Account]) -> None:
    for role, account in accounts.items():
        page = account.client.get("/").text
        for path, permission in [
            ("/ledger", Permission.LEDGER_READ),
            ("/audit", Permission.AUDIT_READ),
            ("/admin/users", Permission.USERS_READ),
            ("/admin/devices", Permission.DEVICES_READ),
            ("/admin/tokens", Permission.TOKENS_READ),
        ]:
            assert (f'href="{path}"' in page) == (permission in ROLES[role]), (role, path)


# --- dashboard ---------------------------------------------------------------------------------


def test_the_dashboard_shows_rate_spool_and_alerts(
    console: Console, accounts: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    from mamori.alerts import notifying
    from mamori.alerts.store import AlertStore
    from tests.alerts.helpers import detection

    monkeypatch.setattr(notifying, "notify_alert", lambda *args: None)
    with AlertStore.open(console.home) as store:
        (raised,) = store.ingest([detection(title="Dashboard alert", host="dash-01")])
    page = accounts[Role.OPERATOR].client.get("/")
    assert page.status_code == 200
    rate = re.search(r'id="event-rate">([^<]*)<', page.text)
    assert rate is not None and re.search(r"\d", rate.group(1))
    assert 'id="spool">取得できません' in page.text  # no ledger sink: not `mamori up`
    assert 'id="alerts"' in page.text and "Dashboard alert on dash-01" in page.text
    assert f'href="/alerts/{raised.alert}"' in page.text.split('id="alerts"')[1]
    # The admin sees the open alerts (ops.status) but may not open them: no links.
    admin = accounts[Role.ADMIN].client.get("/").text
    assert 'id="alerts"' in admin and "Dashboard alert" in admin
    assert "/alerts/" not in admin.split('id="alerts"')[1].split("</table>")[0]


def test_the_spool_state_comes_from_the_sink_under_mamori_up() -> None:
    from mamori.web.opsview import spool_state

    class Sink:
        spooling = True

    metrics = Metrics()
    metrics.spool_bytes.set(4096)
    state = spool_state(Sink(), metrics)
    assert state is not None and state.spooling and state.spool_bytes == 4096
    assert spool_state(FakeSink(), metrics) is None


# --- audit trail -------------------------------------------------------------------------------


def test_the_audit_trail_lists_mamoris_own_events_with_filters(
    console: Console, accounts: dict[Role, Account]
) -> None:
    add_user(console.home, "trailed", Role.AGENCY, actor="matrix-admin")
    drain(console.home)
    c = accounts[Role.AUDITOR].client
    page = c.get("/audit")
    assert page.status_code == 200
    assert "user.signed_in" in page.text and "ssh-login" not in page.text
    only = c.get("/audit", params={"action": "role.granted", "user": "trailed"})
    rows = only.text.split('id="audit"')[1]
    assert "trailed" in rows and "matrix-admin" in rows
    assert "user.signed_in" not in rows
    assert c.get("/audit", params={"action": 'x" OR y'}).status_code == 400
    assert c.get("/audit", params={"user": "a" * 65}).status_code == 400


# --- users, devices, tokens --------------------------------------------------------------------


def test_an_administrator_manages_accounts(console: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.ADMIN].client
    r = c.post("/admin/users/add", data={CSRF_FIELD: csrf(c), "name": "newbie", "role": "agency"})
    assert r.status_code == 200, r.text[:300]
    found = re.search(r'id="one-time-password">([^<]+)<', r.text)
    assert found
    assert found.group(1) not in c.get("/admin/users").text  # shown once
    again = c.post(
        "/admin/users/add", data={CSRF_FIELD: csrf(c), "name": "newbie", "role": "agency"}
    )
    assert again.status_code == 400 and "already exists" in again.text
    bad = c.post("/admin/users/add", data={CSRF_FIELD: csrf(c), "name": "x2", "role": "root"})
    assert bad.status_code == 400
    r = c.post("/admin/users/role", data={CSRF_FIELD: csrf(c), "name": "newbie", "role": "csirt"})
    assert r.status_code == 303 and r.headers["location"] == "/admin/users?done=role"
    r = c.post("/admin/users/reset", data={CSRF_FIELD: csrf(c), "name": "newbie"})
    assert r.status_code == 200 and 'id="one-time-password"' in r.text
    r = c.post("/admin/users/disable", data={CSRF_FIELD: csrf(c), "name": "newbie"})
    assert r.status_code == 303
    listing = c.get("/admin/users").text
    row = listing.split("<td>newbie</td>")[1].split("</tr>")[0]
    assert "csirt" in row and "無効" in row
    events = b"\n".join(outbox_actions(console.home))
    for action in (b"user.created", b"role.changed", b"user.reset", b"user.disabled"):
        assert action in events
    assert b'"actor":"matrix-admin"' in events


def test_an_operator_registers_and_revokes_devices(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.OPERATOR].client
    r = c.post(
        "/admin/devices/add", data={CSRF_FIELD: csrf(c), "name": "fw-01", "address": "10.0.0.0/24"}
    )
    assert r.status_code == 303, r.text[:300]
    fp = "ab" * 32
    r = c.post("/admin/devices/add", data={CSRF_FIELD: csrf(c), "name": "fw-02", "fingerprint": fp})
    assert r.status_code == 303, r.text[:300]
    for data in (
        {"name": "fw-03", "address": "not an address"},
        {"name": "fw-04"},
        {"name": "fw-05", "certificate": "-----BEGIN CERTIFICATE-----\nnope\n"},
    ):
        r = c.post("/admin/devices/add", data={CSRF_FIELD: csrf(c), **data})
        assert r.status_code == 400, (data, r.text[:300])
    listing = c.get("/admin/devices").text
    assert "10.0.0.0/24" in listing and fp in listing
    r = c.post("/admin/devices/revoke", data={CSRF_FIELD: csrf(c), "name": "fw-01"})
    assert r.status_code == 303
    assert (
        c.post("/admin/devices/revoke", data={CSRF_FIELD: csrf(c), "name": "fw-01"}).status_code
        == 400
    )
    events = b"\n".join(outbox_actions(console.home))
    assert b"device.added" in events and b"device.revoked" in events
    assert b'"actor":"matrix-operator"' in events
    # The auditor sees the registry without the forms.
    auditor = accounts[Role.AUDITOR].client.get("/admin/devices").text
    assert "fw-02" in auditor and "/admin/devices/add" not in auditor


def test_an_administrator_creates_and_revokes_tokens(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.ADMIN].client
    r = c.post(
        "/admin/tokens/add",
        data={CSRF_FIELD: csrf(c), "name": "robot", "scope": "read", "expires_days": "30"},
    )
    assert r.status_code == 200, r.text[:300]
    found = re.search(r'id="new-token">([^<]+)<', r.text)
    assert found
    token = found.group(1)
    assert token not in c.get("/admin/tokens").text
    with httpx.Client(
        base_url=console.url, verify=ssl.create_default_context(cafile=console.cafile)
    ) as api:
        auth = {"Authorization": f"Bearer {token}"}
        assert api.get("/api/v1/status", headers=auth).status_code == 200
        r = c.post("/admin/tokens/revoke", data={CSRF_FIELD: csrf(c), "name": "robot"})
        assert r.status_code == 303
        deadline = time.monotonic() + 5
        while api.get("/api/v1/status", headers=auth).status_code != 401:
            assert time.monotonic() < deadline, "the revoked token still works"
            time.sleep(0.1)
    for data in (
        {"name": "t2", "scope": "admin"},
        {"name": "t3", "scope": "read", "expires_days": "0"},
        {"name": "t4", "scope": "read", "expires_days": "abc"},
    ):
        r = c.post("/admin/tokens/add", data={CSRF_FIELD: csrf(c), **data})
        assert r.status_code == 400, (data, r.text[:300])
    r = c.post(
        "/admin/tokens/add",
        data={CSRF_FIELD: csrf(c), "name": "forever", "scope": "ingest", "no_expiry": "on"},
    )
    assert r.status_code == 200
    assert "forever" in r.text and "なし" in r.text
    events = b"\n".join(outbox_actions(console.home))
    assert b"token.created" in events and b"token.revoked" in events


# --- the ledger page and a verification run ----------------------------------------------------


@pytest.fixture
def fresh(cert: Cert, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A home of its own (its ledger gets tampered), with one operator ready to sign in."""
    made = initialise(tmp_path_factory.mktemp("verify") / "home", origin="test.example/v")
    home = made.home
    with Sequencer(home) as seq:
        first = seq.commit([_event(i) for i in range(20)]).first
        seq.commit([_event(i) for i in range(20, 30)])
    ctx = WebContext(
        sink=FakeSink(),
        tokens=TokenVerifier(home, interval=0.0),
        source_check=FakeSources(),
        metrics=Metrics(),
        max_body_bytes=MAX_BODY,
        home=home,
    )
    server = ServerThread(create_app(ctx), cert)
    yield Console(server.url, cert.certfile, home, made.admin_password, first)
    server.stop()
    assert server.error is None, server.error


def _run_verification(c: httpx.Client) -> str:
    r = c.post("/ledger/verify", data={CSRF_FIELD: csrf(c)})
    assert r.status_code == 303 and r.headers["location"] == "/ledger#verification"
    deadline = time.monotonic() + 30
    while True:
        status = c.get("/ledger/verify/status", headers={"HX-Request": "true"})
        assert status.status_code == 200
        state = re.search(r'data-state="(\w+)"', status.text)
        assert state
        if state.group(1) != "running":
            return status.text
        assert 'hx-get="/ledger/verify/status"' in status.text
        assert time.monotonic() < deadline, "the verification did not finish"
        time.sleep(0.1)


def test_a_verification_run_is_ok_then_failed_after_tampering(fresh: Console) -> None:
    codes = ready(fresh, "verifier", Role.OPERATOR)
    with fresh.client() as c:
        r = c.post(
            "/signin",
            data={"name": "verifier", "password": NEW_PASSWORD, "code": codes.next(), "next": "/"},
        )
        assert r.status_code == 303
        page = c.get("/ledger")
        assert page.status_code == 200
        assert 'id="checkpoints"' in page.text and ">30<" in page.text and ">20<" in page.text
        text = _run_verification(c)
        assert 'data-state="ok"' in text and 'id="verify-result"' in text
        assert "OK" in text
        events = b"\n".join(outbox_actions(fresh.home))
        assert b"ledger.verified" in events and b'"actor":"verifier"' in events
        tamper(fresh.home, ("UPDATE events SET body = ? WHERE idx = ?", (b'{"forged":1}', 5)))
        text = _run_verification(c)
        assert 'data-state="failed"' in text
        assert "失敗" in text and "modified" in text
        assert b'"outcome":"failure"' in b"\n".join(outbox_actions(fresh.home))


def test_only_one_verification_runs_at_a_time(fresh: Console) -> None:
    from mamori.web.verifyrun import VerifyRunner

    runner = VerifyRunner(fresh.home)
    assert runner.start("a")
    if runner.running():
        assert not runner.start("b")
    runner.join(30)
    state = runner.current()
    assert state is not None and state.finished and state.ok and state.started_by == "a"
    assert state.problems == [] and state.tree_size == 30
