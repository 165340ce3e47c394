"""Signing in: the pure decision (lockout, TOTP, enrolment, replay) and the edge that applies it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori import audit
from mamori.access import (
    LOCKOUT_DURATION,
    LOCKOUT_THRESHOLD,
    Outcome,
    Stage,
    UserState,
    add_user,
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
    decide,
    disable_user,
    list_users,
    sign_in,
    totp,
)
from mamori.access.db import connect
from mamori.home import Home
from tests.access.conftest import REAL_PARAMETERS

pytestmark = pytest.mark.usefixtures("fast_hashing")

T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
NEW_PASSWORD = "a much longer passphrase"

STATE = UserState(
    name="tanaka",
    role="operator",
    password_hash="$argon2id$…",
    must_change_password=False,
    totp_secret=SECRET,
    totp_enabled=True,
    last_totp_step=None,
    failed_attempts=0,
    locked_until=None,
    disabled_at=None,
)


def code(now: dt.datetime, steps: int = 0) -> str:
    return totp.code_at(SECRET, now + dt.timedelta(seconds=30 * steps))


def events(home: Home) -> list[dict[str, Any]]:
    return [orjson.loads(ev) for _, ev in audit.pending(home, 0, 10_000)]


def actions(home: Home) -> list[str]:
    return [e["event"]["action"] for e in events(home)]


# --- the pure decision ------------------------------------------------------------------------


def test_every_outcome_names_its_session() -> None:
    stages = {o: o.stage for o in Outcome}
    assert stages == {
        Outcome.OK: Stage.FULL,
        Outcome.MUST_CHANGE: Stage.SETUP,
        Outcome.TOTP_ENROLMENT_REQUIRED: Stage.SETUP,
        Outcome.BAD_PASSWORD: None,
        Outcome.BAD_TOTP: None,
        Outcome.LOCKED: None,
        Outcome.DISABLED: None,
    }


def test_password_and_code_sign_in_and_reset_the_count() -> None:
    s = dataclasses.replace(STATE, failed_attempts=3)
    d = decide(s, True, code(T0), T0)
    assert d.outcome is Outcome.OK and not d.newly_locked
    assert d.state is not None
    assert d.state.failed_attempts == 0 and d.state.last_totp_step == totp.step_at(T0)
    assert d.state.last_sign_in == T0


def test_no_account_is_a_bad_password() -> None:
    d = decide(None, False, None, T0)
    assert (d.outcome, d.state) == (Outcome.BAD_PASSWORD, None)


def test_disabled_account_is_refused_even_with_everything_right() -> None:
    s = dataclasses.replace(STATE, disabled_at=T0 - dt.timedelta(days=1))
    d = decide(s, True, code(T0), T0)
    assert d.outcome is Outcome.DISABLED and d.state == s


def test_five_failures_lock_for_fifteen_minutes_then_unlock() -> None:
    s = STATE
    t = T0
    for i in range(LOCKOUT_THRESHOLD):
        d = decide(s, False, code(t), t)
        assert d.outcome is Outcome.BAD_PASSWORD
        assert d.state is not None
        s = d.state
        assert s.failed_attempts == i + 1
        assert d.newly_locked == (i == LOCKOUT_THRESHOLD - 1)
        t += dt.timedelta(seconds=10)
    locked_at = t - dt.timedelta(seconds=10)
    assert s.locked_until == locked_at + LOCKOUT_DURATION == locked_at + dt.timedelta(minutes=15)
    # While locked, even the right password and code are refused, and nothing is counted.
    just_before = s.locked_until - dt.timedelta(seconds=1)
    d = decide(s, True, code(just_before), just_before)
    assert d.outcome is Outcome.LOCKED and d.state == s and not d.newly_locked
    # When the lockout ends, the count starts again.
    after = s.locked_until
    d = decide(s, True, code(after), after)
    assert d.outcome is Outcome.OK
    assert d.state is not None and d.state.failed_attempts == 0 and d.state.locked_until is None
    d = decide(s, False, None, after)
    assert d.outcome is Outcome.BAD_PASSWORD
    assert d.state is not None and d.state.failed_attempts == 1 and d.state.locked_until is None


def test_wrong_missing_or_replayed_code_is_a_failure() -> None:
    for typed in ("000000" if code(T0) != "000000" else "111111", None, "", "12 34"):
        d = decide(STATE, True, typed, T0)
        assert d.outcome is Outcome.BAD_TOTP
        assert d.state is not None and d.state.failed_attempts == 1
    used = dataclasses.replace(STATE, last_totp_step=totp.step_at(T0))
    d = decide(used, True, code(T0), T0 + dt.timedelta(seconds=5))
    assert d.outcome is Outcome.BAD_TOTP


def test_totp_failures_lock_like_password_failures() -> None:
    s = dataclasses.replace(STATE, failed_attempts=LOCKOUT_THRESHOLD - 1)
    d = decide(s, True, None, T0)
    assert d.outcome is Outcome.BAD_TOTP and d.newly_locked
    assert d.state is not None and d.state.locked_until == T0 + LOCKOUT_DURATION


def test_no_totp_yet_requires_enrolment_after_the_password() -> None:
    s = dataclasses.replace(
        STATE, totp_enabled=False, totp_secret=None, must_change_password=True, failed_attempts=2
    )
    d = decide(s, True, None, T0)
    assert d.outcome is Outcome.TOTP_ENROLMENT_REQUIRED and d.outcome.stage is Stage.SETUP
    assert d.state is not None and d.state.failed_attempts == 0
    # A pending (unconfirmed) secret changes nothing.
    pending = dataclasses.replace(s, totp_secret=SECRET)
    assert decide(pending, True, code(T0), T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED
    assert decide(s, False, None, T0).outcome is Outcome.BAD_PASSWORD
    # Without the requirement (a later configuration option), the password alone is enough.
    assert decide(s, True, None, T0, require_totp=False).outcome is Outcome.MUST_CHANGE
    done = dataclasses.replace(s, must_change_password=False)
    assert decide(done, True, None, T0, require_totp=False).outcome is Outcome.OK


def test_must_change_comes_after_the_code() -> None:
    s = dataclasses.replace(STATE, must_change_password=True)
    assert decide(s, True, None, T0).outcome is Outcome.BAD_TOTP
    d = decide(s, True, code(T0), T0)
    assert d.outcome is Outcome.MUST_CHANGE and d.outcome.stage is Stage.SETUP


def test_totp_enabled_without_a_secret_fails_closed() -> None:
    s = dataclasses.replace(STATE, totp_secret=None)
    assert decide(s, True, "123456", T0).outcome is Outcome.BAD_TOTP


attempts = st.lists(
    st.tuples(st.booleans(), st.booleans(), st.integers(0, 400)), min_size=1, max_size=30
)


@settings(max_examples=300, deadline=None)
@given(attempts)
def test_state_machine_invariants(seq: list[tuple[bool, bool, int]]) -> None:
    """Whatever the sequence of attempts: a session only for the right password and a fresh
    code outside a lockout; never more than 5 failures counted; locks last exactly 15 min."""
    s, t = STATE, T0
    for password_ok, code_ok, wait in seq:
        t += dt.timedelta(seconds=wait)
        typed = code(t) if code_ok else None
        d = decide(s, password_ok, typed, t)
        assert d.state is not None
        was_locked = s.locked_until is not None and t < s.locked_until
        if d.outcome.stage is not None:
            assert password_ok and code_ok and not was_locked
            assert d.state.failed_attempts == 0 and d.state.last_totp_step == totp.step_at(t)
        if was_locked:
            assert d.outcome is Outcome.LOCKED and d.state == s
        if d.newly_locked:
            assert d.state.locked_until == t + LOCKOUT_DURATION
        assert 0 <= d.state.failed_attempts <= LOCKOUT_THRESHOLD
        s = d.state


# --- the edge -----------------------------------------------------------------------------------


def enrol(home: Home, name: str, now: dt.datetime) -> str:
    e = begin_totp_enrolment(home, name)
    assert confirm_totp_enrolment(home, name, totp.code_at(e.secret, now), now=now)
    return e.secret


def test_first_sign_in_enrol_change_then_sign_in(home: Home) -> None:
    otp = add_user(home, "tanaka", "operator")
    r = sign_in(home, "tanaka", otp, None, T0, source="192.0.2.7")
    assert (r.outcome, r.stage, r.name, r.role) == (
        Outcome.TOTP_ENROLMENT_REQUIRED,
        Stage.SETUP,
        "tanaka",
        "operator",
    )
    secret = enrol(home, "tanaka", T0)
    # The code that confirmed the enrolment cannot sign in too.
    r = sign_in(home, "tanaka", otp, totp.code_at(secret, T0), T0)
    assert r.outcome is Outcome.BAD_TOTP
    t1 = T0 + dt.timedelta(seconds=30)
    r = sign_in(home, "TANAKA", otp, totp.code_at(secret, t1), t1)
    assert (r.outcome, r.name) == (Outcome.MUST_CHANGE, "tanaka")
    change_password(home, "tanaka", otp, NEW_PASSWORD, now=t1)
    t2 = t1 + dt.timedelta(seconds=30)
    assert (
        sign_in(home, "tanaka", otp, totp.code_at(secret, t2), t2).outcome is Outcome.BAD_PASSWORD
    )
    t3 = t2 + dt.timedelta(seconds=30)
    r = sign_in(home, "tanaka", NEW_PASSWORD, totp.code_at(secret, t3), t3)
    assert (r.outcome, r.stage) == (Outcome.OK, Stage.FULL)
    assert [(e["event"]["action"], e["event"]["outcome"]) for e in events(home)] == [
        ("user.created", "success"),
        ("role.granted", "success"),
        ("user.signed_in", "success"),
        ("user.totp_enrolled", "success"),
        ("user.sign_in_failed", "failure"),
        ("user.signed_in", "success"),
        ("user.password_changed", "success"),
        ("user.sign_in_failed", "failure"),
        ("user.signed_in", "success"),
    ]
    first = events(home)[2]["mamori"]["audit"]
    assert first == {"name": "tanaka", "result": "totp_enrolment_required", "source": "192.0.2.7"}
    assert events(home)[4]["mamori"]["audit"] == {"name": "tanaka", "reason": "bad_totp"}
    (rec,) = [u for u in list_users(home) if u.name == "tanaka"]
    assert rec.last_sign_in == "2026-11-27T09:01:30Z" and rec.failed_attempts == 0


def test_lockout_is_stored_audited_and_lifts_after_fifteen_minutes(home: Home) -> None:
    otp = add_user(home, "sato", "auditor")
    t = T0
    for _ in range(LOCKOUT_THRESHOLD):
        r = sign_in(home, "sato", "wrong password!", None, t)
        assert r.outcome is Outcome.BAD_PASSWORD
        t += dt.timedelta(seconds=1)
    assert r.locked_until == t - dt.timedelta(seconds=1) + LOCKOUT_DURATION
    (rec,) = [u for u in list_users(home) if u.name == "sato"]
    assert rec.locked(t) and rec.failed_attempts == 5
    assert sign_in(home, "sato", otp, None, t + dt.timedelta(minutes=14)).outcome is Outcome.LOCKED
    later = t + dt.timedelta(minutes=15)
    assert sign_in(home, "sato", otp, None, later).outcome is Outcome.TOTP_ENROLMENT_REQUIRED
    evs = events(home)
    locked = [e for e in evs if e["event"]["action"] == "user.locked"]
    assert len(locked) == 1
    assert locked[0]["mamori"]["audit"] == {
        "name": "sato",
        "failures": 5,
        "until": "2026-11-27T09:15:04Z",
        "alert": True,
    }
    failed = [
        e["mamori"]["audit"]["reason"] for e in evs if e["event"]["action"] == "user.sign_in_failed"
    ]
    assert failed == ["bad_password"] * 5 + ["locked"]


def test_unknown_account_looks_like_a_wrong_password(home: Home) -> None:
    r = sign_in(home, "nobody", "whatever it is", "123456", T0, source="198.51.100.1")
    assert (r.outcome, r.stage, r.role, r.name) == (Outcome.BAD_PASSWORD, None, None, "nobody")
    (e,) = events(home)
    assert e["event"]["action"] == "user.sign_in_failed"
    assert e["mamori"]["audit"] == {
        "name": "nobody",
        "reason": "unknown_account",
        "source": "198.51.100.1",
    }
    long = sign_in(home, "x" * 5000, "p", None, T0)
    assert long.outcome is Outcome.BAD_PASSWORD
    assert len(events(home)[-1]["mamori"]["audit"]["name"]) == 64


def test_disabled_account_is_refused(home: Home) -> None:
    otp = add_user(home, "ito", "agency")
    disable_user(home, "ito")
    r = sign_in(home, "ito", otp, None, T0)
    assert r.outcome is Outcome.DISABLED and r.stage is None
    assert events(home)[-1]["mamori"]["audit"] == {"name": "ito", "reason": "disabled"}


def test_passwords_never_reach_the_database_or_the_audit_trail(home: Home) -> None:
    otp = add_user(home, "kato", "csirt")
    sign_in(home, "kato", "a wrong guess here", None, T0)
    sign_in(home, "kato", otp, None, T0)
    change_password(home, "kato", otp, NEW_PASSWORD, now=T0)
    stored = b"".join(p.read_bytes() for p in home.root.glob("*.db*") if p.is_file())
    for secret in (otp, "a wrong guess here", NEW_PASSWORD):
        assert secret.encode() not in stored


def test_a_sign_in_rehashes_a_password_made_with_old_parameters(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    otp = add_user(home, "mori", "operator")

    def stored_hash() -> str:
        conn = connect(home.access_db)
        try:
            return str(
                conn.execute("SELECT password_hash FROM users WHERE name = 'mori'").fetchone()[0]
            )
        finally:
            conn.close()

    assert stored_hash().startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    sign_in(home, "mori", "not the password", None, T0)
    assert stored_hash().startswith("$argon2id$v=19$m=1024,t=1,p=1$")  # only a proven password
    from mamori.access import passwords

    monkeypatch.setattr(passwords, "PARAMETERS", REAL_PARAMETERS)
    assert sign_in(home, "mori", otp, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED
    assert stored_hash().startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert sign_in(home, "mori", otp, None, T0).outcome is Outcome.TOTP_ENROLMENT_REQUIRED


def test_a_time_without_a_zone_is_refused(home: Home) -> None:
    from mamori.access import AccessError

    with pytest.raises(AccessError, match="without a zone"):
        sign_in(home, "admin", "x", None, dt.datetime(2026, 1, 1))
