"""Sessions: random tokens stored as SHA-256, idle and absolute ends, CSRF, revocation."""

from __future__ import annotations

import datetime as dt
import hashlib
import sqlite3
from typing import Any

import orjson
import pytest

from mamori import audit
from mamori.access import (
    ABSOLUTE_TIMEOUT,
    COOKIE_NAME,
    IDLE_TIMEOUT,
    AccessError,
    EndReason,
    Permission,
    SessionStore,
    Stage,
    add_user,
    check_csrf,
)
from mamori.access.sessions import TOUCH_INTERVAL, csrf_token, ended
from mamori.home import Home

pytestmark = pytest.mark.usefixtures("fast_hashing")

T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
MIN = dt.timedelta(minutes=1)


@pytest.fixture
def store(home: Home) -> Any:
    add_user(home, "tanaka", "operator")
    s = SessionStore(home)
    yield s
    s.close()


def ended_events(home: Home) -> list[dict[str, Any]]:
    evs = [orjson.loads(ev) for _, ev in audit.pending(home, 0, 1000)]
    return [e["mamori"]["audit"] for e in evs if e["event"]["action"] == "session.ended"]


def test_the_documented_limits() -> None:
    assert dt.timedelta(minutes=30) == IDLE_TIMEOUT
    assert dt.timedelta(hours=12) == ABSOLUTE_TIMEOUT
    assert COOKIE_NAME.startswith("__Host-")


def test_ended_is_pure_and_checks_absolute_first() -> None:
    assert ended(T0, T0, T0) is None
    assert ended(T0, T0, T0 + IDLE_TIMEOUT - dt.timedelta(seconds=1)) is None
    assert ended(T0, T0, T0 + IDLE_TIMEOUT) is EndReason.IDLE
    busy = T0 + ABSOLUTE_TIMEOUT - MIN
    assert ended(T0, busy, T0 + ABSOLUTE_TIMEOUT - dt.timedelta(seconds=1)) is None
    assert ended(T0, busy, T0 + ABSOLUTE_TIMEOUT) is EndReason.ABSOLUTE
    assert ended(T0, T0, T0 + ABSOLUTE_TIMEOUT) is EndReason.ABSOLUTE


def test_create_returns_a_token_stored_only_as_its_hash(home: Home, store: SessionStore) -> None:
    new = store.create("tanaka", now=T0)
    assert len(new.token) == 43 and new.stage is Stage.FULL
    assert new.token not in repr(new) and new.csrf not in repr(new)
    stored = b"".join(p.read_bytes() for p in home.root.glob("access.db*") if p.is_file())
    assert new.token.encode() not in stored and new.csrf.encode() not in stored
    assert hashlib.sha256(new.token.encode()).hexdigest().encode() in stored
    other = store.create("tanaka", now=T0)
    assert other.token != new.token and other.csrf != new.csrf


def test_lookup_finds_the_session_and_its_account(store: SessionStore) -> None:
    new = store.create("Tanaka", now=T0)
    s = store.lookup(new.token, now=T0 + MIN)
    assert s is not None
    assert (s.id, s.user, s.role, s.stage) == (new.id, "tanaka", "operator", Stage.FULL)
    assert s.csrf == new.csrf and s.created == T0
    assert s.must_change_password and not s.totp_enabled
    assert s.allows(Permission.DEVICES_MANAGE) and s.allows("events.search")
    assert not s.allows(Permission.USERS_MANAGE) and not s.allows("nonsense")


@pytest.mark.parametrize("token", ["", None, "x", "A" * 43, "A" * 10_000, "\udcff", "日本語"])
def test_lookup_refuses_anything_else(store: SessionStore, token: str | None) -> None:
    new = store.create("tanaka", now=T0)
    assert store.lookup(token, now=T0) is None
    assert store.lookup(new.token[:-1], now=T0) is None
    assert store.lookup(new.token + "x", now=T0) is None


def test_setup_sessions_allow_nothing_but_self_service(store: SessionStore) -> None:
    new = store.create("tanaka", stage=Stage.SETUP, now=T0)
    s = store.lookup(new.token, now=T0)
    assert s is not None and s.stage is Stage.SETUP
    assert not any(s.allows(p) for p in Permission)


def test_idle_timeout_ends_a_session(home: Home, store: SessionStore) -> None:
    new = store.create("tanaka", now=T0)
    assert store.lookup(new.token, now=T0 + IDLE_TIMEOUT - MIN) is not None  # touches it
    assert store.lookup(new.token, now=T0 + 2 * IDLE_TIMEOUT - 2 * MIN) is not None
    late = T0 + 3 * IDLE_TIMEOUT
    assert store.lookup(new.token, now=late) is None
    # Ended for good: coming back in time does not revive it.
    assert store.lookup(new.token, now=T0 + MIN) is None
    assert ended_events(home) == [{"name": "tanaka", "sessions": [new.id], "reason": "idle"}]


def test_absolute_timeout_ends_a_busy_session(home: Home, store: SessionStore) -> None:
    new = store.create("tanaka", now=T0)
    t = T0
    while t < T0 + ABSOLUTE_TIMEOUT - 10 * MIN:
        t += 10 * MIN
        assert store.lookup(new.token, now=t) is not None, t
    assert store.lookup(new.token, now=T0 + ABSOLUTE_TIMEOUT) is None
    assert ended_events(home) == [{"name": "tanaka", "sessions": [new.id], "reason": "absolute"}]


def test_last_seen_is_written_at_most_once_a_minute(home: Home, store: SessionStore) -> None:
    new = store.create("tanaka", now=T0)

    def last_seen() -> str:
        conn = sqlite3.connect(home.access_db)
        try:
            return str(conn.execute("SELECT last_seen FROM sessions").fetchone()[0])
        finally:
            conn.close()

    s = store.lookup(new.token, now=T0 + TOUCH_INTERVAL / 2)
    assert s is not None and s.last_seen == T0 and last_seen() == "2026-11-27T09:00:00Z"
    s = store.lookup(new.token, now=T0 + TOUCH_INTERVAL)
    assert s is not None and last_seen() == "2026-11-27T09:01:00Z"


def test_revoke_signs_out(home: Home, store: SessionStore) -> None:
    a = store.create("tanaka", now=T0)
    b = store.create("tanaka", now=T0)
    assert store.revoke(a.token, now=T0)
    assert not store.revoke(a.token, now=T0)  # already ended
    assert not store.revoke("nonsense", now=T0)
    assert store.lookup(a.token, now=T0) is None
    assert store.lookup(b.token, now=T0) is not None
    assert ended_events(home) == [{"name": "tanaka", "sessions": [a.id], "reason": "signed_out"}]


def test_revoke_all_for_user(home: Home, store: SessionStore) -> None:
    add_user(home, "sato", "auditor")
    mine = [store.create("tanaka", now=T0) for _ in range(3)]
    theirs = store.create("sato", now=T0)
    assert store.revoke_all_for_user("TANAKA", now=T0) == 3
    assert all(store.lookup(s.token, now=T0) is None for s in mine)
    assert store.lookup(theirs.token, now=T0) is not None
    assert store.revoke_all_for_user("tanaka", now=T0) == 0
    assert ended_events(home) == [
        {"name": "tanaka", "sessions": [s.id for s in mine], "reason": "revoked"}
    ]
    with pytest.raises(AccessError, match="no account named 'ghost'"):
        store.revoke_all_for_user("ghost")


def test_sessions_only_for_active_accounts(home: Home, store: SessionStore) -> None:
    with pytest.raises(AccessError, match="no active account named 'ghost'"):
        store.create("ghost", now=T0)
    new = store.create("tanaka", now=T0)
    # Even if a disabled account's session were left open, it would not be found.
    conn = sqlite3.connect(home.access_db)
    conn.execute("UPDATE users SET disabled_at = '2026-11-27T09:00:00Z' WHERE name = 'tanaka'")
    conn.commit()
    conn.close()
    assert store.lookup(new.token, now=T0) is None
    with pytest.raises(AccessError, match="no active account"):
        store.create("tanaka", now=T0)


def test_csrf_token_is_derived_and_checked_in_constant_time() -> None:
    token = "session-token-value"
    csrf = csrf_token(token)
    assert csrf == csrf_token(token) and csrf != csrf_token(token + "x")
    assert len(csrf) == 43
    assert check_csrf(csrf, csrf)
    for forged in (None, "", csrf[:-1], csrf + "A", csrf.upper(), "x" * 10_000, "\udcff"):
        assert not check_csrf(csrf, forged)
