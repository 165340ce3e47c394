"""Console sessions: a random token in a cookie, only its SHA-256 stored, idle and absolute ends.

A session token is 32 random bytes, URL-safe base64 (256 bits), handed to the browser once, in
a cookie; the database keeps its SHA-256 (as for API tokens: a slow hash adds nothing to a
256-bit secret). Its CSRF token is derived from it (HMAC-SHA256 keyed with the session token),
so there is nothing more to store and nothing an attacker without the cookie can compute.

A session ends when it is signed out, after 30 minutes without a request, 12 hours after it
began whatever the activity, and when its account is disabled or reset or changes its
password. A `setup` session, given after the password step to an account that must still enrol
TOTP or change its password, allows only that (:meth:`Session.allows` is always False).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import sqlite3
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, assert_never

from mamori.access import trail
from mamori.access.db import connect, now_text, parse_time, transaction, utc_now
from mamori.access.errors import AccessError
from mamori.access.roles import Permission, allowed
from mamori.home import Home

IDLE_TIMEOUT: Final = dt.timedelta(minutes=30)
"""A session with no request for this long has ended."""
ABSOLUTE_TIMEOUT: Final = dt.timedelta(hours=12)
"""A session this old has ended, however busy."""
TOUCH_INTERVAL: Final = dt.timedelta(minutes=1)
"""`last_seen` is written at most this often (a write per request would be a disk sync per
request); the idle timeout is therefore exact to within this."""

COOKIE_NAME: Final = "__Host-mamori-session"
"""The `__Host-` prefix makes browsers refuse the cookie unless it is Secure, has Path=/ and no
Domain (RFC 6265bis §4.1.3.2). Set it HttpOnly and SameSite=Strict too."""
CSRF_FIELD: Final = "csrf_token"
"""The form field that carries the CSRF token."""
CSRF_HEADER: Final = "X-CSRF-Token"
"""The header that carries it for htmx and API requests made from a page."""

_TOKEN_BYTES = 32
_MAX_TOKEN_CHARS = 128
_CSRF_CONTEXT = b"mamori csrf v1"


class Stage(StrEnum):
    """How far a session's sign-in went."""

    FULL = "full"
    """Password and TOTP: everything the role allows."""
    SETUP = "setup"
    """Password only, for an account that must enrol TOTP or change its password first."""


class EndReason(StrEnum):
    """Why a session ended."""

    SIGNED_OUT = "signed_out"
    IDLE = "idle"
    ABSOLUTE = "absolute"
    DISABLED = "disabled"
    RESET = "reset"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a reason, not a password)
    REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class NewSession:
    """A session just created: its token goes into the cookie, and is not kept anywhere."""

    id: int
    token: str = field(repr=False)
    csrf: str = field(repr=False)
    stage: Stage


@dataclass(frozen=True, slots=True)
class Session:
    """A valid session, as found for a request."""

    id: int
    user: str
    role: str
    stage: Stage
    created: dt.datetime
    last_seen: dt.datetime
    csrf: str = field(repr=False)
    """The token forms and htmx requests must send back (:func:`check_csrf`)."""
    must_change_password: bool
    totp_enabled: bool

    def allows(self, permission: Permission | str) -> bool:
        """Whether this session may do `permission`: a full session, and the role allows it."""
        match self.stage:
            case Stage.FULL:
                return allowed(self.role, permission)
            case Stage.SETUP:
                return False
            case _:
                assert_never(self.stage)


def session_hash(token: str) -> str:
    """The stored form of a session token: SHA-256, lowercase hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256(session token, context), URL-safe base64."""
    mac = hmac.new(session_token.encode("utf-8", "surrogatepass"), _CSRF_CONTEXT, hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode("ascii")


def check_csrf(expected: str, presented: str | None) -> bool:
    """Whether the CSRF token sent with a request is the session's (constant-time)."""
    if not presented or len(presented) > _MAX_TOKEN_CHARS:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8", "replace"))


def ended(created: dt.datetime, last_seen: dt.datetime, now: dt.datetime) -> EndReason | None:
    """Why a session begun at `created` and last used at `last_seen` has ended at `now`, if it
    has: the absolute limit is checked first, as it is the one no activity extends."""
    if now - created >= ABSOLUTE_TIMEOUT:
        return EndReason.ABSOLUTE
    if now - last_seen >= IDLE_TIMEOUT:
        return EndReason.IDLE
    return None


def end_all(
    conn: sqlite3.Connection, user_id: int, reason: EndReason, now: dt.datetime
) -> list[int]:
    """End every open session of an account, inside the caller's transaction; their ids."""
    ids = [
        int(r[0])
        for r in conn.execute(
            "SELECT id FROM sessions WHERE user_id = ? AND ended_at IS NULL ORDER BY id",
            (user_id,),
        )
    ]
    conn.execute(
        "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE user_id = ? AND ended_at IS NULL",
        (now_text(now), reason.value, user_id),
    )
    return ids


def record_ended(home: Home, user: str, ids: list[int], reason: EndReason) -> None:
    """The audit event for sessions ended together (nothing when there were none)."""
    if ids:
        trail.record(
            home,
            "session.ended",
            {"name": user, "sessions": ids, "reason": reason.value},
            done=f"the sessions of {user!r} were ended",
        )


_FIND = (
    "SELECT s.id, s.stage, s.created, s.last_seen, u.name, u.role, u.must_change_password, "
    "u.totp_enabled, u.disabled_at "
    "FROM sessions s JOIN users u ON u.id = s.user_id "
    "WHERE s.hash = ? AND s.ended_at IS NULL"
)


class SessionStore:
    """Creates, finds and ends sessions, on one kept connection (safe from several threads)."""

    def __init__(self, home: Home) -> None:
        self._home = home
        self._lock = threading.Lock()
        self._conn = connect(home.access_db)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def create(
        self, user: str, *, stage: Stage = Stage.FULL, now: dt.datetime | None = None
    ) -> NewSession:
        """A new session for the active account `user`."""
        t = now_text(utc_now(now))
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        try:
            with self._lock, transaction(self._conn):
                row = self._conn.execute(
                    "SELECT id, disabled_at FROM users WHERE name = ?", (user,)
                ).fetchone()
                if row is None or row[1] is not None:
                    raise AccessError(
                        f"there is no active account named {user!r}",
                        hint="sessions are created for accounts that just signed in",
                    )
                cur = self._conn.execute(
                    "INSERT INTO sessions(hash, user_id, stage, created, last_seen) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (session_hash(token), row[0], Stage(stage).value, t, t),
                )
        except sqlite3.Error as e:
            raise AccessError(f"cannot create a session for {user!r}: {e}") from e
        assert cur.lastrowid is not None
        return NewSession(cur.lastrowid, token, csrf_token(token), Stage(stage))

    def lookup(self, token: str | None, *, now: dt.datetime | None = None) -> Session | None:
        """The session of `token` when it is valid at `now`; None otherwise.

        A session found past its idle or absolute limit is ended (session.ended) and None is
        returned. `last_seen` moves on at most once a minute.
        """
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return None
        t = utc_now(now)
        expired: tuple[int, str, EndReason] | None = None
        try:
            with self._lock:
                row = self._conn.execute(_FIND, (session_hash(token),)).fetchone()
                if row is None:
                    return None
                sid, stage, created_text, seen_text, user, role, must_change, totp_on, off = row
                if off is not None:
                    return None
                created, seen = _time(created_text), _time(seen_text)
                reason = ended(created, seen, t)
                if reason is not None:
                    if self._end(sid, reason, t):
                        expired = (sid, user, reason)
                elif t - seen >= TOUCH_INTERVAL:
                    self._conn.execute(
                        "UPDATE sessions SET last_seen = ? WHERE id = ?", (now_text(t), sid)
                    )
                    seen = t
        except sqlite3.Error as e:
            raise AccessError(f"cannot read the sessions: {e}") from e
        if expired is not None:
            self._record_one(*expired)
            return None
        return Session(
            id=sid,
            user=user,
            role=role,
            stage=Stage(stage),
            created=created,
            last_seen=seen,
            csrf=csrf_token(token),
            must_change_password=bool(must_change),
            totp_enabled=bool(totp_on),
        )

    def revoke(
        self,
        token: str,
        *,
        reason: EndReason = EndReason.SIGNED_OUT,
        now: dt.datetime | None = None,
    ) -> bool:
        """End the session of `token` (signing out); False when there was no open one."""
        if not token or len(token) > _MAX_TOKEN_CHARS:
            return False
        t = utc_now(now)
        try:
            with self._lock:
                row = self._conn.execute(
                    "SELECT s.id, u.name FROM sessions s JOIN users u ON u.id = s.user_id "
                    "WHERE s.hash = ? AND s.ended_at IS NULL",
                    (session_hash(token),),
                ).fetchone()
                if row is None or not self._end(row[0], reason, t):
                    return False
        except sqlite3.Error as e:
            raise AccessError(f"cannot end the session: {e}") from e
        self._record_one(row[0], row[1], reason)
        return True

    def revoke_all_for_user(
        self, user: str, *, reason: EndReason = EndReason.REVOKED, now: dt.datetime | None = None
    ) -> int:
        """End every open session of `user` ("sign out everywhere"); how many there were."""
        t = utc_now(now)
        try:
            with self._lock, transaction(self._conn):
                row = self._conn.execute(
                    "SELECT id, name FROM users WHERE name = ?", (user,)
                ).fetchone()
                if row is None:
                    raise AccessError(
                        f"there is no account named {user!r}", hint="see `mamori users list`"
                    )
                ids = end_all(self._conn, row[0], reason, t)
        except sqlite3.Error as e:
            raise AccessError(f"cannot end the sessions of {user!r}: {e}") from e
        record_ended(self._home, row[1], ids, reason)
        return len(ids)

    def _end(self, sid: int, reason: EndReason, now: dt.datetime) -> bool:
        # Only the caller that actually ends it records the event, however many race.
        cur = self._conn.execute(
            "UPDATE sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
            (now_text(now), reason.value, sid),
        )
        return cur.rowcount == 1

    def _record_one(self, sid: int, user: str, reason: EndReason) -> None:
        trail.record(
            self._home,
            "session.ended",
            {"name": user, "sessions": [sid], "reason": reason.value},
            done=f"a session of {user!r} was ended",
        )


def _time(text: Any) -> dt.datetime:
    t = parse_time(str(text))
    assert t is not None
    return t
