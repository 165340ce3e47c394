"""The access database, `HOME/access.db`: API tokens (hashed), the device registry, console
accounts and their sessions.

One SQLite file in WAL mode, created with mode 0600 before SQLite opens it (SQLite gives its
`-wal` and `-shm` files the database file's mode). Commands change it; a running service reads
it through :class:`mamori.access.watch.Watched`, which notices each commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import sqlite3
from pathlib import Path

from mamori.access.errors import AccessError
from mamori.fsutil import immediate_transaction, open_private_sqlite

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,          -- SHA-256 of the token, lowercase hex
    created TEXT NOT NULL,              -- RFC 3339, UTC
    revoked_at TEXT                     -- NULL while the token is valid
);
CREATE TABLE IF NOT EXISTS devices(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    address TEXT,                       -- an IP address or a CIDR network, normalised
    fingerprint TEXT,                   -- SHA-256 of the DER client certificate, lowercase hex
    cert_pem TEXT,                      -- the certificate itself, when it was given
    created TEXT NOT NULL,
    revoked_at TEXT,
    CHECK (address IS NOT NULL OR fingerprint IS NOT NULL)
);
-- Two active devices with one certificate would make a match ambiguous.
CREATE UNIQUE INDEX IF NOT EXISTS devices_active_fingerprint
    ON devices(fingerprint) WHERE revoked_at IS NULL AND fingerprint IS NOT NULL;
-- A token's expiry; a token without a row never expires (those made before expiry existed,
-- and those made with --no-expiry).
CREATE TABLE IF NOT EXISTS token_expiry(
    token_id INTEGER PRIMARY KEY REFERENCES tokens(id),
    expires TEXT NOT NULL               -- RFC 3339, UTC
);
CREATE TABLE IF NOT EXISTS users(
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,                 -- a mamori.access.roles.Role; anything else may nothing
    password_hash TEXT NOT NULL,        -- Argon2id, PHC string format
    must_change_password INTEGER NOT NULL,
    password_changed TEXT NOT NULL,
    totp_secret TEXT,                   -- base32; pending until totp_enabled
    totp_enabled INTEGER NOT NULL DEFAULT 0,
    last_totp_step INTEGER,             -- the last step accepted: replay protection
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT,
    disabled_at TEXT,                   -- NULL while the account may sign in
    created TEXT NOT NULL,
    last_sign_in TEXT
);
CREATE TABLE IF NOT EXISTS sessions(
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,          -- SHA-256 of the session token, lowercase hex
    user_id INTEGER NOT NULL REFERENCES users(id),
    stage TEXT NOT NULL,                -- full | setup
    created TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    ended_at TEXT,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS sessions_open_by_user ON sessions(user_id) WHERE ended_at IS NULL;
"""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_name(name: str, what: str) -> str:
    """A token or device name: 1-64 letters, digits, `.`, `_`, `-`, starting with a letter or digit."""
    if not _NAME.fullmatch(name):
        raise AccessError(
            f"{what} name {name!r} is not allowed",
            hint="use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


def now_text(now: dt.datetime | None = None) -> str:
    """An RFC 3339 UTC time to the second, e.g. 2026-11-27T00:00:00Z."""
    t = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> dt.datetime | None:
    """A time written by :func:`now_text`, back as an aware datetime; None stays None."""
    return None if text is None else dt.datetime.fromisoformat(text)


def utc_now(now: dt.datetime | None = None) -> dt.datetime:
    """`now`, or the current time, in UTC; a naive time is refused (whose clock would it be?)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise AccessError("a time without a zone was given", hint="pass an aware datetime (UTC)")
    return now.astimezone(dt.UTC)


def connect(path: Path) -> sqlite3.Connection:
    """Open the access database, creating it (mode 0600, WAL) and its tables when absent."""
    try:
        return open_private_sqlite(path, SCHEMA)
    except (OSError, sqlite3.Error) as e:
        raise cannot_open(path, e) from e


def transaction(conn: sqlite3.Connection) -> contextlib.AbstractContextManager[None]:
    """BEGIN IMMEDIATE … COMMIT; rolled back when the block or the COMMIT fails."""
    return immediate_transaction(conn)


def cannot_open(path: Path, e: Exception) -> AccessError:
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return AccessError(
        f"cannot use the access database {path}: {reason}",
        hint="check that the home is initialised, writable by this user, and the disk not full",
    )
