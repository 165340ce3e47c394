"""API tokens (APP-7): created once, stored as SHA-256, checked in memory, expiring, revocable.

A token is "mamori_" and 32 random bytes in URL-safe base64 (256 bits). Only its SHA-256 is
stored: guessing a 256-bit secret from its hash is as hard as guessing the secret, so a slow
password hash would add cost to every request and no safety (see docs/access.md).

A token expires after 90 days unless another lifetime, or none, is asked for: an expired token
verifies no more, like a revoked one, and keeps its row and name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from mamori.access.db import check_name, connect, now_text, parse_time, transaction, utc_now
from mamori.access.errors import AccessError
from mamori.access.watch import DEFAULT_INTERVAL, Watched
from mamori.home import Home

SCOPES: Final = ("ingest", "metrics", "read")
"""What a token may do: `ingest` posts events, `metrics` reads /metrics, `read` reads the JSON
API (search, events, proofs; see :data:`mamori.access.roles.SCOPE_PERMISSIONS`)."""

DEFAULT_EXPIRY_DAYS: Final = 90
"""A new token's lifetime unless another is given."""
MAX_EXPIRY_DAYS: Final = 3650
"""The longest lifetime that can be given in days; beyond it, ask for no expiry explicitly."""

PREFIX: Final = "mamori_"
"""Every token starts with this, so a leaked one is easy to recognise (and to scan for)."""

_MAX_TOKEN_CHARS = 256


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """Who a verified token belongs to."""

    name: str
    scope: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """A token as listed: never the token, never its hash."""

    name: str
    scope: str
    created: str
    """RFC 3339, UTC."""
    revoked_at: str | None
    """When it was revoked; None unless it was."""
    expires: str | None = None
    """When it stops verifying (RFC 3339, UTC); None for a token that never expires."""

    def expired(self, now: dt.datetime | None = None) -> bool:
        """Whether it has expired at `now` (default: the current time)."""
        return self.expires is not None and _expired(parse_time(self.expires), utc_now(now))

    def as_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "scope": self.scope,
            "created": self.created,
            "expires": self.expires,
            "expired": self.expired(now),
            "revoked_at": self.revoked_at,
        }


def _expired(expires: dt.datetime | None, now: dt.datetime) -> bool:
    return expires is not None and now >= expires


def token_hash(token: str) -> str:
    """The stored form of a token: SHA-256 of its UTF-8 bytes, lowercase hex."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def check_scope(scope: str) -> str:
    if scope not in SCOPES:
        raise AccessError(f"{scope!r} is not a token scope", hint=f"use one of {', '.join(SCOPES)}")
    return scope


def expiry(expires_days: int | None, now: dt.datetime) -> dt.datetime | None:
    """When a token made at `now` to live `expires_days` expires; None (never) for None."""
    if expires_days is None:
        return None
    if not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise AccessError(
            f"a token's lifetime is 1 to {MAX_EXPIRY_DAYS} days, not {expires_days}",
            hint=f"give 1 to {MAX_EXPIRY_DAYS} days, or ask for a token that never expires "
            "(--no-expiry) if that is really meant",
        )
    return now + dt.timedelta(days=expires_days)


def add_token(
    home: Home,
    name: str,
    scope: str,
    *,
    expires_days: int | None = DEFAULT_EXPIRY_DAYS,
    now: dt.datetime | None = None,
) -> str:
    """Create a token and return it: the only time it exists outside the caller's hands.

    It expires `expires_days` days from `now` (90 by default); None makes one that never does.
    """
    check_name(name, "token")
    check_scope(scope)
    t = utc_now(now)
    expires = expiry(expires_days, t)
    token = PREFIX + secrets.token_urlsafe(32)
    conn = connect(home.access_db)
    try:
        with transaction(conn):
            cur = conn.execute(
                "INSERT INTO tokens(name, scope, hash, created) VALUES (?, ?, ?, ?)",
                (name, scope, token_hash(token), now_text(t)),
            )
            if expires is not None:
                conn.execute(
                    "INSERT INTO token_expiry(token_id, expires) VALUES (?, ?)",
                    (cur.lastrowid, now_text(expires)),
                )
    except sqlite3.IntegrityError as e:
        raise AccessError(
            f"a token named {name!r} already exists",
            hint="choose another name (revoked names stay taken, so the audit trail is unambiguous)",
        ) from e
    except sqlite3.Error as e:
        raise AccessError(f"cannot add the token {name!r}: {e}") from e
    finally:
        conn.close()
    return token


_RECORD = (
    "t.name, t.scope, t.created, t.revoked_at, e.expires "
    "FROM tokens t LEFT JOIN token_expiry e ON e.token_id = t.id"
)


def list_tokens(home: Home) -> list[TokenRecord]:
    """Every token, valid and revoked, by name."""
    conn = connect(home.access_db)
    try:
        rows = conn.execute(f"SELECT {_RECORD} ORDER BY t.name").fetchall()
    except sqlite3.Error as e:
        raise AccessError(f"cannot read the tokens: {e}") from e
    finally:
        conn.close()
    return [TokenRecord(*row) for row in rows]


def revoke_token(home: Home, name: str) -> TokenRecord:
    """Revoke the token `name`; a running service stops accepting it within about a second."""
    conn = connect(home.access_db)
    try:
        with transaction(conn):
            row = conn.execute(
                f"SELECT {_RECORD} WHERE t.name = ?",
                (name,),
            ).fetchone()
            if row is None:
                raise AccessError(
                    f"there is no token named {name!r}", hint="see `mamori tokens list`"
                )
            if row[3] is not None:
                raise AccessError(
                    f"the token {name!r} was already revoked at {row[3]}", hint="nothing to do"
                )
            when = now_text()
            conn.execute("UPDATE tokens SET revoked_at = ? WHERE name = ?", (when, name))
    except sqlite3.Error as e:
        raise AccessError(f"cannot revoke the token {name!r}: {e}") from e
    finally:
        conn.close()
    return TokenRecord(row[0], row[1], row[2], when, row[4])


def _load(conn: sqlite3.Connection) -> dict[str, tuple[TokenInfo, dt.datetime | None]]:
    rows = conn.execute(
        "SELECT t.hash, t.name, t.scope, e.expires "
        "FROM tokens t LEFT JOIN token_expiry e ON e.token_id = t.id "
        "WHERE t.revoked_at IS NULL"
    )
    return {h: (TokenInfo(name, scope), parse_time(exp)) for h, name, scope, exp in rows}


class TokenVerifier:
    """Checks bearer tokens against the valid ones, held in memory and kept current.

    Safe to call from an asyncio event loop: a dictionary look-up, and at most once per
    `interval` a tiny SQLite read. When the database cannot be read, no token verifies (fail
    closed) until it can again; :attr:`error` says why.
    """

    def __init__(
        self,
        home: Home,
        *,
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._tokens: Watched[dict[str, tuple[TokenInfo, dt.datetime | None]]] = Watched(
            home.access_db, _load, {}, interval=interval, clock=clock
        )

    def verify(self, token: str, scope: str, *, now: dt.datetime | None = None) -> TokenInfo | None:
        """Who `token` belongs to when it is valid for `scope` at `now` (default: the current
        time); None for a wrong, revoked or expired token, or another scope."""
        if not token.startswith(PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            return None
        # A look-up by hash leaks nothing useful through timing: an attacker learns at most
        # about the hash of their own guess, never about a stored token.
        found = self._tokens.get().get(token_hash(token))
        if found is None:
            return None
        info, expires = found
        if info.scope != scope or _expired(expires, utc_now(now)):
            return None
        return info

    @property
    def error(self) -> AccessError | None:
        """Why the last check of the database failed; None when it succeeded."""
        return self._tokens.error

    def refresh(self) -> None:
        """Re-read the database now if it changed."""
        self._tokens.refresh()

    def close(self) -> None:
        self._tokens.close()
