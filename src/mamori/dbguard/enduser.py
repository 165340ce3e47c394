"""End-user attribution through pooled connections (DB-2).

An application that serves many people through a few database roles tells the proxy who the
person is, on each connection it takes from its pool::

    SET mamori.end_user = '<user>:<unix-time>:<hmac>'

where ``<hmac>`` is HMAC-SHA256 (hex) of ``"<user>:<unix-time>"`` under a key the application
and the proxy share (``[[dbguard]] end_user_key_file``). PostgreSQL accepts ``mamori.end_user``
as a custom setting, so the statement is harmless without the proxy too.

The proxy (see docs/dbguard.md, "End-user attribution"):

* checks the HMAC (constant-time) and the time (no older than ``end_user_max_age_s``, no more
  than :data:`CLOCK_SKEW_S` in the future);
* rewrites the value to the bare user name before the statement reaches the server, so the
  token is never in the server's logs or in ``pg_stat_activity`` where another session of the
  same role could read and replay it;
* once the server has answered ``SET``, attributes every later statement of the session to that
  user (``user.name`` in the events, ``mamori.dbguard.end_user_verified: true``);
* records a token that does not verify as an unverified end user plus an
  ``end_user_unverified`` event (alert-worthy), and keeps the session going;
* forgets the end user on ``RESET mamori.end_user``, ``SET mamori.end_user TO DEFAULT``,
  ``RESET ALL`` and ``DISCARD ALL`` (what poolers send when a connection is returned).

Only the SET statement is recognised: ``set_config('mamori.end_user', ...)`` is not.

Helpers for applications: :func:`end_user_token`, :func:`set_statement`,
:func:`psycopg_set_end_user` and :func:`sqlalchemy_attribution` (a pool checkout hook)::

    key = Path("/etc/app/dbguard.key").read_bytes().strip()
    engine = create_engine("postgresql+psycopg://app@mamori-host:6433/residents")
    sqlalchemy_attribution(engine, key, lambda: flask.g.user_login)
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from pglast import parse_sql
from pglast.ast import DiscardStmt, VariableSetStmt
from pglast.enums import DiscardMode, VariableSetKind
from pglast.parser import ParseError, scan

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.engine import Engine

GUC: Final = "mamori.end_user"
CLOCK_SKEW_S: Final = 30
"""How far in the future a token's time may be (clocks of application and proxy differ)."""
MAX_USER_CHARS: Final = 256


def end_user_token(user: str, key: bytes, now: float | None = None) -> str:
    """``user:unix-time:hex(HMAC-SHA256(key, "user:unix-time"))``."""
    _check_user(user)
    ts = int(time.time() if now is None else now)
    mac = hmac.new(key, f"{user}:{ts}".encode(), hashlib.sha256).hexdigest()
    return f"{user}:{ts}:{mac}"


def quote_literal(value: str) -> str:
    """An SQL string literal of `value`, right whatever standard_conforming_strings says."""
    if "\\" in value:
        return "E'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + value.replace("'", "''") + "'"


def set_statement(user: str, key: bytes, now: float | None = None) -> str:
    """The ``SET mamori.end_user = '…'`` statement for `user`, now."""
    return f"SET {GUC} = {quote_literal(end_user_token(user, key, now))}"


def psycopg_set_end_user(
    conn: psycopg.Connection[Any], user: str | None, key: bytes, now: float | None = None
) -> None:
    """Tell the proxy who uses `conn` from now on (None: nobody in particular)."""
    from psycopg import sql

    if user is None:
        conn.execute(f"RESET {GUC}")
        return
    token = end_user_token(user, key, now)
    conn.execute(sql.SQL("SET mamori.end_user = {}").format(sql.Literal(token)))


def sqlalchemy_attribution(
    engine: Engine, key: bytes, current_user: Callable[[], str | None]
) -> Callable[..., None]:
    """Set the end user on every connection SQLAlchemy takes from its pool; returns the
    listener (remove it with ``sqlalchemy.event.remove(engine, "checkout", listener)``).

    `current_user` is called at each checkout: the login of the person the application is
    serving, or None for background work.
    """
    from sqlalchemy import event

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        user = current_user()
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(set_statement(user, key) if user else f"RESET {GUC}")
        finally:
            cursor.close()
        dbapi_connection.commit()  # keep the pool's "no transaction open" promise

    event.listen(engine, "checkout", on_checkout)
    return on_checkout


def _check_user(user: str) -> None:
    if not user or len(user) > MAX_USER_CHARS or any(ord(c) < 0x20 or c == "\x7f" for c in user):
        raise ValueError(
            f"an end user must be 1 to {MAX_USER_CHARS} printable characters, got {user!r}"
        )


# -- the proxy's side (pure) ------------------------------------------------------------------


class Unverified(enum.Enum):
    """Why a claimed end user was not verified."""

    NO_KEY = "no_key"
    """The proxy has no key ([[dbguard]] end_user_key_file is empty)."""
    MALFORMED = "malformed"
    """Not ``user:time:hmac``."""
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    FUTURE = "future"


@dataclass(frozen=True, slots=True)
class Claim:
    """A claimed end user and whether its token checked out."""

    user: str
    verified: bool
    problem: Unverified | None = None
    issued: int = 0
    """The token's time (epoch seconds), 0 when malformed."""


def verify_token(
    token: str, key: bytes | None, *, now: float, max_age_s: int, skew_s: int = CLOCK_SKEW_S
) -> Claim:
    """Check a ``mamori.end_user`` value; never raises, never returns the token's secret part."""
    parts = token.rsplit(":", 2)
    user = _printable(parts[0] if len(parts) == 3 else token)
    if len(parts) != 3 or not parts[1].isdigit() or not user:
        return Claim(user or "?", False, Unverified.MALFORMED)
    ts_text, mac = parts[1], parts[2]
    if len(ts_text) > 12:
        return Claim(user, False, Unverified.MALFORMED)
    ts = int(ts_text)
    if key is None:
        return Claim(user, False, Unverified.NO_KEY, ts)
    expected = hmac.new(key, f"{parts[0]}:{ts_text}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), mac.lower().encode("utf-8", "replace")):
        return Claim(user, False, Unverified.BAD_SIGNATURE, ts)
    if ts < now - max_age_s:
        return Claim(user, False, Unverified.EXPIRED, ts)
    if ts > now + skew_s:
        return Claim(user, False, Unverified.FUTURE, ts)
    return Claim(user, True, None, ts)


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())[:MAX_USER_CHARS]


@dataclass(frozen=True, slots=True)
class Change:
    """What one statement does to the end user."""

    value: str | None
    """The value set (the token as sent), None for a reset."""
    span: tuple[int, int] = (0, 0)
    """Where the value is in the statement's text (characters), for the rewrite."""


def change_of(statement: str) -> Change | None:
    """The end-user change one statement makes, if any (None for every other statement)."""
    low = statement.lower()
    if GUC not in low and "reset" not in low and "discard" not in low:
        return None  # the cheap test first: the parser only for candidates
    try:
        parsed = parse_sql(statement)
    except ParseError:
        return None
    if len(parsed) != 1:
        return None
    node = parsed[0].stmt
    if isinstance(node, DiscardStmt):
        return Change(None) if node.target == DiscardMode.DISCARD_ALL else None
    if not isinstance(node, VariableSetStmt):
        return None
    if node.kind == VariableSetKind.VAR_RESET_ALL:
        return Change(None)
    if (node.name or "").lower() != GUC:
        return None
    if node.kind in (VariableSetKind.VAR_RESET, VariableSetKind.VAR_SET_DEFAULT):
        return Change(None)
    if node.kind != VariableSetKind.VAR_SET_VALUE:
        return None
    span = _value_span(statement)
    args = node.args or ()
    if span is None or len(args) != 1:
        return Change("", span or (0, 0))
    val = getattr(args[0], "val", None)
    sval = getattr(val, "sval", None)
    if sval is None:
        ival = getattr(val, "ival", None)
        sval = "" if ival is None else str(ival)
    return Change(str(sval), span)


def _value_span(statement: str) -> tuple[int, int] | None:
    """The characters of the value in ``SET [SESSION|LOCAL] mamori.end_user {=|TO} value``."""
    try:
        tokens = scan(statement)
    except ParseError:
        return None
    for i, tok in enumerate(tokens):
        if tok.name in ("ASCII_61", "TO"):
            rest = [t for t in tokens[i + 1 :] if t.name not in ("ASCII_59", "SQL_COMMENT")]
            rest = [t for t in rest if t.name != "C_COMMENT"]
            if not rest:
                return None
            return rest[0].start, rest[-1].end + 1
    return None


def rewrite(statement: str, change: Change, user: str) -> str:
    """`statement` with the token replaced by the bare user name (see the module doc)."""
    start, end = change.span
    if end <= start:
        return statement
    return statement[:start] + quote_literal(user) + statement[end:]
