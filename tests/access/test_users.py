"""Accounts: creation with a one-time password, listing, disabling, resets, roles, password
changes, TOTP enrolment, the first administrator, and `mamori users …` run as a user runs it."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori import audit
from mamori.access import (
    AccessError,
    Outcome,
    PasswordPolicyError,
    Role,
    SessionStore,
    Stage,
    add_user,
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
    create_first_admin,
    disable_user,
    get_user,
    list_users,
    reset_user,
    set_role,
    sign_in,
    totp,
)
from mamori.access.db import connect
from mamori.home import Home, initialise
from tests.conftest import run

pytestmark = pytest.mark.usefixtures("fast_hashing")

T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
NEW = "a much longer passphrase"


def events(home: Home) -> list[dict[str, Any]]:
    return [orjson.loads(ev) for _, ev in audit.pending(home, 0, 10_000)]


def last(home: Home, action: str) -> dict[str, Any]:
    found = [e for e in events(home) if e["event"]["action"] == action]
    assert found, action
    return dict(found[-1]["mamori"]["audit"])


def row(home: Home, name: str) -> dict[str, Any]:
    conn = connect(home.access_db)
    conn.row_factory = sqlite3.Row
    try:
        r = conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        return dict(r)
    finally:
        conn.close()


def signed_in_fully(home: Home, name: str, password: str, now: dt.datetime) -> str:
    """Enrol TOTP and change the password as a new account must; returns its TOTP secret."""
    e = begin_totp_enrolment(home, name)
    assert confirm_totp_enrolment(home, name, totp.code_at(e.secret, now), now=now)
    change_password(home, name, password, NEW, now=now)
    return e.secret


def test_init_creates_the_first_admin_without_an_audit_event(tmp_path: Path) -> None:
    done = initialise(tmp_path / "h", origin="t.example/mamori/1")
    assert done.admin == "admin" and done.admin_password not in repr(done)
    (admin,) = list_users(done.home)
    assert (admin.name, admin.role, admin.must_change_password, admin.totp_enabled) == (
        "admin",
        "admin",
        True,
        False,
    )
    assert audit.pending(done.home, 0, 10) == []  # the outbox of a new home stays empty
    r = sign_in(done.home, "admin", done.admin_password, None, T0)
    assert r.outcome is Outcome.TOTP_ENROLMENT_REQUIRED
    with pytest.raises(AccessError, match="already has accounts"):
        create_first_admin(done.home)


def test_add_user_returns_a_one_time_password_and_stores_only_its_hash(home: Home) -> None:
    otp = add_user(home, "tanaka", Role.OPERATOR)
    r = row(home, "tanaka")
    assert r["role"] == "operator" and r["must_change_password"] == 1 and r["totp_enabled"] == 0
    assert r["password_hash"].startswith("$argon2id$") and otp not in r["password_hash"]
    assert otp.encode() not in b"".join(p.read_bytes() for p in home.root.glob("access.db*"))
    assert [e["event"]["action"] for e in events(home)] == ["user.created", "role.granted"]
    assert last(home, "user.created") == {"name": "tanaka", "role": "operator"}
    assert last(home, "role.granted") == {"name": "tanaka", "role": "operator", "alert": True}
    add_user(home, "sato", "auditor", actor="admin")
    assert last(home, "role.granted") == {
        "name": "sato",
        "role": "auditor",
        "actor": "admin",
        "alert": True,
    }


@pytest.mark.parametrize(
    ("name", "role", "message", "hint"),
    [
        ("Tanaka", "operator", "already exists (names are case-insensitive)", "choose another"),
        ("admin", "auditor", "already exists", "choose another"),
        ("new", "root", "'root' is not a role", "admin, operator"),
        ("", "operator", "name '' is not allowed", "letters"),
        ("a b", "operator", "not allowed", "letters"),
        ("x" * 65, "operator", "not allowed", "64"),
    ],
)
def test_add_user_errors(home: Home, name: str, role: str, message: str, hint: str) -> None:
    add_user(home, "tanaka", "operator")
    with pytest.raises(AccessError) as info:
        add_user(home, name, role)
    assert message in info.value.message
    assert info.value.hint is not None and hint in info.value.hint


def test_list_users_shows_state_never_secrets(home: Home) -> None:
    otp = add_user(home, "tanaka", "csirt")
    begin_totp_enrolment(home, "tanaka")
    records = list_users(home)
    assert [(u.name, u.role) for u in records] == [("admin", "admin"), ("tanaka", "csirt")]
    text = repr(records) + repr([u.as_json() for u in records])
    r = row(home, "tanaka")
    for secret in (otp, r["password_hash"], r["totp_secret"], "argon2"):
        assert secret not in text
    doc = records[1].as_json(T0)
    assert set(doc) == {
        "name",
        "role",
        "must_change_password",
        "totp_enabled",
        "failed_attempts",
        "locked",
        "locked_until",
        "disabled_at",
        "created",
        "last_sign_in",
    }
    assert get_user(home, "TANAKA") == records[1]
    with pytest.raises(AccessError, match="no account named 'ghost'"):
        get_user(home, "ghost")


def test_disable_ends_sessions_and_refuses_sign_in(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    store = SessionStore(home)
    s = store.create("tanaka", stage=Stage.SETUP, now=T0)
    rec = disable_user(home, "Tanaka", actor="admin", now=T0)
    assert rec.disabled_at == "2026-11-27T09:00:00Z"
    assert store.lookup(s.token, now=T0) is None
    assert sign_in(home, "tanaka", otp, None, T0).outcome is Outcome.DISABLED
    assert last(home, "user.disabled") == {"name": "tanaka", "role": "operator", "actor": "admin"}
    assert last(home, "session.ended") == {
        "name": "tanaka",
        "sessions": [s.id],
        "reason": "disabled",
    }
    with pytest.raises(AccessError, match="was disabled at") as info:
        disable_user(home, "tanaka")
    assert info.value.hint is not None and "add a new account" in info.value.hint
    with pytest.raises(AccessError, match="already exists"):
        add_user(home, "tanaka", "operator")  # the name stays taken
    store.close()


def test_the_last_admin_cannot_be_disabled_or_demoted(home: Home) -> None:
    with pytest.raises(AccessError, match="last active administrator") as info:
        disable_user(home, "admin")
    assert info.value.hint is not None and "add another administrator" in info.value.hint
    with pytest.raises(AccessError, match="last active administrator"):
        set_role(home, "admin", "auditor")
    add_user(home, "second", "admin")
    set_role(home, "admin", "auditor")
    with pytest.raises(AccessError, match="last active administrator"):
        disable_user(home, "second")
    assert [u.role for u in list_users(home)] == ["auditor", "admin"]


def test_set_role_is_an_alert_and_applies_to_open_sessions(home: Home) -> None:
    add_user(home, "tanaka", "operator")
    store = SessionStore(home)
    s = store.create("tanaka", now=T0)
    found = store.lookup(s.token, now=T0)
    assert found is not None and found.allows("devices.manage")
    change = set_role(home, "tanaka", "auditor", actor="admin")
    assert (change.name, change.previous, change.role) == ("tanaka", "operator", Role.AUDITOR)
    assert last(home, "role.changed") == {
        "name": "tanaka",
        "from": "operator",
        "role": "auditor",
        "actor": "admin",
        "alert": True,
    }
    found = store.lookup(s.token, now=T0)
    assert found is not None and found.role == "auditor"
    assert not found.allows("devices.manage") and found.allows("ledger.export")
    with pytest.raises(AccessError, match="already has the role auditor") as info:
        set_role(home, "tanaka", "auditor")
    assert info.value.hint == "nothing to do"
    with pytest.raises(AccessError, match="not a role"):
        set_role(home, "tanaka", "god")
    with pytest.raises(AccessError, match="no account named"):
        set_role(home, "ghost", "auditor")
    store.close()


def test_reset_gives_a_new_password_removes_totp_and_clears_a_lockout(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    signed_in_fully(home, "tanaka", otp, T0)
    for _ in range(5):
        sign_in(home, "tanaka", "wrong password!!", None, T0)
    assert get_user(home, "tanaka").locked(T0)
    store = SessionStore(home)
    s = store.create("tanaka", now=T0)
    fresh = reset_user(home, "tanaka", actor="admin", now=T0)
    assert fresh != otp
    r = row(home, "tanaka")
    assert r["totp_secret"] is None and r["totp_enabled"] == 0 and r["last_totp_step"] is None
    assert (
        r["must_change_password"] == 1 and r["failed_attempts"] == 0 and r["locked_until"] is None
    )
    assert store.lookup(s.token, now=T0) is None
    assert sign_in(home, "tanaka", NEW, None, T0).outcome is Outcome.BAD_PASSWORD
    assert sign_in(home, "tanaka", fresh, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED
    assert last(home, "user.reset") == {"name": "tanaka", "actor": "admin"}
    assert last(home, "session.ended")["reason"] == "reset"
    disable_user(home, "tanaka")
    with pytest.raises(AccessError, match="was disabled"):
        reset_user(home, "tanaka")
    store.close()


def test_change_password_checks_the_current_one_and_the_policy(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    with pytest.raises(PasswordPolicyError, match="at least 12"):
        change_password(home, "tanaka", otp, "short", now=T0)
    long_name = add_user(home, "tanaka.ichiro", "operator")
    with pytest.raises(PasswordPolicyError, match="account's name"):
        change_password(home, "tanaka.ichiro", long_name, "Tanaka.Ichiro", now=T0)
    with pytest.raises(PasswordPolicyError, match="current one"):
        change_password(home, "tanaka", otp, otp, now=T0)
    assert row(home, "tanaka")["failed_attempts"] == 0  # policy refusals are no failures
    with pytest.raises(AccessError, match="current password is wrong"):
        change_password(home, "tanaka", "not the password", NEW, now=T0, source="192.0.2.9")
    assert row(home, "tanaka")["failed_attempts"] == 1
    assert last(home, "user.password_change_failed") == {
        "name": "tanaka",
        "reason": "bad_password",
        "source": "192.0.2.9",
    }
    change_password(home, "tanaka", otp, NEW, now=T0)
    r = row(home, "tanaka")
    assert r["must_change_password"] == 0 and r["failed_attempts"] == 0
    assert last(home, "user.password_changed") == {"name": "tanaka"}


def test_wrong_current_passwords_lock_the_account(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    for _ in range(5):
        with pytest.raises(AccessError, match="current password is wrong"):
            change_password(home, "tanaka", "not the password", NEW, now=T0)
    assert last(home, "user.locked")["alert"] is True
    with pytest.raises(AccessError, match="is locked until 2026-11-27T09:15:00Z"):
        change_password(home, "tanaka", otp, NEW, now=T0 + dt.timedelta(minutes=10))
    change_password(home, "tanaka", otp, NEW, now=T0 + dt.timedelta(minutes=15))


def test_password_change_ends_every_session(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    store = SessionStore(home)
    a = store.create("tanaka", stage=Stage.SETUP, now=T0)
    b = store.create("tanaka", stage=Stage.SETUP, now=T0)
    change_password(home, "tanaka", otp, NEW, now=T0)
    assert store.lookup(a.token, now=T0) is None and store.lookup(b.token, now=T0) is None
    assert last(home, "session.ended") == {
        "name": "tanaka",
        "sessions": [a.id, b.id],
        "reason": "password_changed",
    }
    store.close()


def test_totp_enrolment(home: Home) -> None:
    add_user(home, "tanaka", "operator")
    first = begin_totp_enrolment(home, "tanaka")
    second = begin_totp_enrolment(home, "tanaka")  # a reload: a new secret replaces the pending one
    assert first.secret != second.secret
    assert "otpauth://totp/mamori:tanaka" in second.uri and second.qr_svg.startswith("<svg")
    assert not confirm_totp_enrolment(home, "tanaka", totp.code_at(first.secret, T0), now=T0)
    assert not confirm_totp_enrolment(home, "tanaka", "not a code", now=T0)
    assert row(home, "tanaka")["totp_enabled"] == 0
    assert confirm_totp_enrolment(home, "tanaka", totp.code_at(second.secret, T0), now=T0)
    r = row(home, "tanaka")
    assert r["totp_enabled"] == 1 and r["last_totp_step"] == totp.step_at(T0)
    assert last(home, "user.totp_enrolled") == {"name": "tanaka"}
    with pytest.raises(AccessError, match="already has TOTP enrolled") as info:
        begin_totp_enrolment(home, "tanaka")
    assert info.value.hint is not None and "mamori users reset" in info.value.hint
    add_user(home, "sato", "operator")
    with pytest.raises(AccessError, match="no TOTP enrolment in progress"):
        confirm_totp_enrolment(home, "sato", "123456", now=T0)


# --- the CLI --------------------------------------------------------------------------------------


def test_users_cli_round_trip(home: Home) -> None:
    h = ["--home", str(home.root)]
    added = run(["users", "add", "tanaka", "--role", "operator", *h])
    assert added.returncode == 0, added.stderr
    otp = added.stdout.decode().strip()
    assert added.stdout.decode() == otp + "\n"  # the password and nothing else on stdout
    assert b"not shown again" in added.stderr and otp.encode() not in added.stderr
    assert sign_in(home, "tanaka", otp, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED

    table = run(["users", "list", *h]).stdout.decode()
    assert "tanaka" in table and "operator" in table and "first-login" in table
    listed = orjson.loads(run(["users", "list", "--json", *h]).stdout)
    assert [(u["name"], u["role"], u["totp_enabled"]) for u in listed] == [
        ("admin", "admin", False),
        ("tanaka", "operator", False),
    ]

    role = run(["users", "role", "tanaka", "csirt", *h])
    assert role.returncode == 0, role.stderr
    assert b"role of tanaka changed from operator to csirt" in role.stdout

    reset = run(["users", "reset", "tanaka", *h])
    assert reset.returncode == 0, reset.stderr
    fresh = reset.stdout.decode().strip()
    assert fresh != otp and b"not shown again" in reset.stderr
    assert sign_in(home, "tanaka", otp, None, T0).outcome is Outcome.BAD_PASSWORD
    assert sign_in(home, "tanaka", fresh, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED

    disabled = run(["users", "disable", "tanaka", *h])
    assert disabled.returncode == 0 and b"disabled account tanaka" in disabled.stdout
    listed = orjson.loads(run(["users", "list", "--json", *h]).stdout)
    assert listed[1]["disabled_at"] is not None

    cli_actions = [
        e["event"]["action"]
        for e in events(home)
        if not e["event"]["action"].startswith(("user.sign", "user.signed"))
    ]
    assert cli_actions == [
        "user.created",
        "role.granted",
        "role.changed",
        "user.reset",
        "user.disabled",
    ]
    raw = b"".join(ev for _, ev in audit.pending(home, 0, 1000))
    assert otp.encode() not in raw and fresh.encode() not in raw


def test_users_cli_errors_exit_2_with_a_fix(home: Home) -> None:
    h = ["--home", str(home.root)]
    for args, message in (
        (["users", "add", "x", "--role", "root"], b"'root' is not a role"),
        (["users", "add", "admin", "--role", "auditor"], b"already exists"),
        (["users", "disable", "admin"], b"last active administrator"),
        (["users", "role", "admin", "auditor"], b"last active administrator"),
        (["users", "reset", "ghost"], b"no account named 'ghost'"),
    ):
        proc = run([*args, *h])
        assert proc.returncode == 2, args
        assert message in proc.stderr and b"fix:" in proc.stderr, proc.stderr
        assert proc.stdout == b""
    assert events(home) == []


def test_init_prints_the_admin_password_once(tmp_path: Path) -> None:
    proc = run(["init", "--home", str(tmp_path / "h"), "--origin", "t.example/mamori/1"])
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    (line,) = [ln for ln in out.splitlines() if ln.strip().startswith("password")]
    password = line.split()[1]
    assert "one-time" in line and "enrol" in out and "TOTP" in out
    home = Home(tmp_path / "h")
    assert sign_in(home, "admin", password, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED

    as_json = run(["init", "--home", str(tmp_path / "j"), "--json"])
    doc = orjson.loads(as_json.stdout)
    assert doc["admin"]["name"] == "admin"
    j = Home(Path(doc["home"]))
    r = sign_in(j, "admin", doc["admin"]["one_time_password"], None, T0)
    assert r.outcome is Outcome.TOTP_ENROLMENT_REQUIRED
