"""Console accounts (APP-7, SEC-5): one role each, Argon2id passwords, TOTP, lockout.

An account is made with a random one-time password, shown once, that must be changed at the
first sign-in, and without TOTP, which must be enrolled right after the first password step
(see :mod:`mamori.access.signin` for the whole sequence). Names are case-insensitive
("Admin" is "admin") and stay taken after an account is disabled, so the audit trail never has
two people of one name.

Every change is an audit event, recorded here (see :mod:`mamori.access.trail`): user.created,
role.granted, role.changed, user.disabled, user.reset, user.password_changed,
user.totp_enrolled, session.ended. Role grants and changes carry `alert: true`.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from mamori.access import passwords, sessions, totp, trail
from mamori.access.db import check_name, connect, now_text, parse_time, transaction, utc_now
from mamori.access.errors import AccessError
from mamori.access.roles import Role, parse_role
from mamori.home import Home

FIRST_ADMIN: Final = "admin"
"""The administrator `mamori init` creates."""


@dataclass(frozen=True, slots=True)
class UserState:
    """An account as stored, secrets included: what the sign-in decision works on."""

    name: str
    role: str
    password_hash: str = field(repr=False)
    must_change_password: bool
    totp_secret: str | None = field(repr=False)
    totp_enabled: bool
    last_totp_step: int | None
    failed_attempts: int
    locked_until: dt.datetime | None
    disabled_at: dt.datetime | None
    last_sign_in: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class UserRecord:
    """An account as listed: never a password hash or a TOTP secret."""

    name: str
    role: str
    must_change_password: bool
    totp_enabled: bool
    failed_attempts: int
    locked_until: str | None
    disabled_at: str | None
    created: str
    last_sign_in: str | None

    def locked(self, now: dt.datetime | None = None) -> bool:
        """Whether sign-ins are refused for a lockout at `now`."""
        until = parse_time(self.locked_until)
        return until is not None and utc_now(now) < until

    def as_json(self, now: dt.datetime | None = None) -> dict[str, Any]:
        return {
            "name": self.name,
            "role": self.role,
            "must_change_password": self.must_change_password,
            "totp_enabled": self.totp_enabled,
            "failed_attempts": self.failed_attempts,
            "locked": self.locked(now),
            "locked_until": self.locked_until,
            "disabled_at": self.disabled_at,
            "created": self.created,
            "last_sign_in": self.last_sign_in,
        }


@dataclass(frozen=True, slots=True)
class RoleChange:
    """A role changed by :func:`set_role`."""

    name: str
    previous: str
    role: Role


_STATE = (
    "id, name, role, password_hash, must_change_password, totp_secret, totp_enabled, "
    "last_totp_step, failed_attempts, locked_until, disabled_at, last_sign_in"
)
_RECORD = (
    "name, role, must_change_password, totp_enabled, failed_attempts, locked_until, "
    "disabled_at, created, last_sign_in"
)


def load_state(conn: sqlite3.Connection, name: str) -> tuple[int, UserState] | None:
    """The stored account `name` (any case) and its row id; None when there is none."""
    row = conn.execute(f"SELECT {_STATE} FROM users WHERE name = ?", (name,)).fetchone()  # noqa: S608 (a constant)
    if row is None:
        return None
    uid, nm, role, ph, must, secret, enabled, step, failed, locked, disabled, last = row
    return int(uid), UserState(
        name=nm,
        role=role,
        password_hash=ph,
        must_change_password=bool(must),
        totp_secret=secret,
        totp_enabled=bool(enabled),
        last_totp_step=step,
        failed_attempts=int(failed),
        locked_until=parse_time(locked),
        disabled_at=parse_time(disabled),
        last_sign_in=parse_time(last),
    )


def _record(row: tuple[Any, ...]) -> UserRecord:
    name, role, must, enabled, failed, locked, disabled, created, last = row
    return UserRecord(
        name, role, bool(must), bool(enabled), int(failed), locked, disabled, created, last
    )


@contextmanager
def _db(home: Home, doing: str) -> Iterator[sqlite3.Connection]:
    conn = connect(home.access_db)
    try:
        yield conn
    except sqlite3.Error as e:
        raise AccessError(f"cannot {doing}: {e}") from e
    finally:
        conn.close()


def _need(conn: sqlite3.Connection, name: str) -> tuple[int, UserState]:
    found = load_state(conn, name)
    if found is None:
        raise AccessError(f"there is no account named {name!r}", hint="see `mamori users list`")
    return found


def _need_active(conn: sqlite3.Connection, name: str) -> tuple[int, UserState]:
    uid, state = _need(conn, name)
    if state.disabled_at is not None:
        raise AccessError(
            f"the account {state.name!r} was disabled at {now_text(state.disabled_at)}",
            hint="a disabled account stays disabled; add a new account for the person",
        )
    return uid, state


def _other_active_admins(conn: sqlite3.Connection, uid: int) -> int:
    row = conn.execute(
        "SELECT count(*) FROM users WHERE role = ? AND disabled_at IS NULL AND id != ?",
        (Role.ADMIN.value, uid),
    ).fetchone()
    return int(row[0])


def _insert(conn: sqlite3.Connection, name: str, role: Role, password: str, t: str) -> None:
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        raise AccessError(
            f"an account named {name!r} already exists (names are case-insensitive)",
            hint="choose another name (disabled names stay taken, so the audit trail is unambiguous)",
        )
    conn.execute(
        "INSERT INTO users(name, role, password_hash, must_change_password, password_changed, "
        "created) VALUES (?, ?, ?, 1, ?, ?)",
        (name, role.value, passwords.hash_password(password), t, t),
    )


def add_user(
    home: Home,
    name: str,
    role: Role | str,
    *,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Create an account and return its one-time password: the only time it is shown.

    The password must be changed, and TOTP enrolled, at the first sign-in. Records
    user.created and role.granted (an alert).
    """
    check_name(name, "account")
    r = parse_role(role)
    t = now_text(utc_now(now))
    password = passwords.one_time_password()
    with _db(home, f"add the account {name!r}") as conn, transaction(conn):
        _insert(conn, name, r, password, t)
    fields = trail.with_actor({"name": name, "role": r.value}, actor)
    trail.record(home, "user.created", fields, done=f"the account {name!r} was created")
    trail.record(
        home,
        "role.granted",
        {**fields, **trail.ALERT},
        done=f"the account {name!r} was granted the role {r.value}",
    )
    return password


def create_first_admin(home: Home, *, now: dt.datetime | None = None) -> str:
    """The first administrator of a new home (`mamori init`); its one-time password.

    Not an audit event: like the signing key, it is part of the home's creation, before which
    there is no ledger to record anything in (and the outbox of a new home stays empty).
    """
    t = now_text(utc_now(now))
    password = passwords.one_time_password()
    with _db(home, "create the first administrator") as conn, transaction(conn):
        if conn.execute("SELECT 1 FROM users").fetchone():
            raise AccessError(
                "this home already has accounts",
                hint="add more with `mamori users add NAME --role admin`",
            )
        _insert(conn, FIRST_ADMIN, Role.ADMIN, password, t)
    return password


def list_users(home: Home) -> list[UserRecord]:
    """Every account, active and disabled, by name."""
    with _db(home, "read the accounts") as conn:
        rows = conn.execute(f"SELECT {_RECORD} FROM users ORDER BY name").fetchall()  # noqa: S608 (a constant)
    return [_record(r) for r in rows]


def get_user(home: Home, name: str) -> UserRecord:
    """The account `name` (any case)."""
    with _db(home, "read the accounts") as conn:
        row = conn.execute(f"SELECT {_RECORD} FROM users WHERE name = ?", (name,)).fetchone()  # noqa: S608 (a constant)
    if row is None:
        raise AccessError(f"there is no account named {name!r}", hint="see `mamori users list`")
    return _record(row)


def disable_user(
    home: Home, name: str, *, actor: str | None = None, now: dt.datetime | None = None
) -> UserRecord:
    """Disable an account for good and end its sessions. The last active administrator
    cannot be disabled."""
    t = utc_now(now)
    with _db(home, f"disable the account {name!r}") as conn:
        with transaction(conn):
            uid, state = _need_active(conn, name)
            if state.role == Role.ADMIN and _other_active_admins(conn, uid) == 0:
                raise AccessError(
                    f"{state.name!r} is the last active administrator; disabling it would leave "
                    "nobody to manage accounts",
                    hint="add another administrator first (`mamori users add NAME --role admin`)",
                )
            conn.execute("UPDATE users SET disabled_at = ? WHERE id = ?", (now_text(t), uid))
            ended = sessions.end_all(conn, uid, sessions.EndReason.DISABLED, t)
        row = conn.execute(f"SELECT {_RECORD} FROM users WHERE id = ?", (uid,)).fetchone()  # noqa: S608 (a constant)
    fields = trail.with_actor({"name": state.name, "role": state.role}, actor)
    trail.record(home, "user.disabled", fields, done=f"the account {state.name!r} was disabled")
    sessions.record_ended(home, state.name, ended, sessions.EndReason.DISABLED)
    return _record(row)


def reset_user(
    home: Home, name: str, *, actor: str | None = None, now: dt.datetime | None = None
) -> str:
    """Give an account a new one-time password and remove its TOTP (for a lost password or
    authenticator); clears a lockout and ends its sessions. Returns the password, once."""
    t = utc_now(now)
    password = passwords.one_time_password()
    new_hash = passwords.hash_password(password)
    with _db(home, f"reset the account {name!r}") as conn, transaction(conn):
        uid, state = _need_active(conn, name)
        conn.execute(
            "UPDATE users SET password_hash = ?, must_change_password = 1, password_changed = ?, "
            "totp_secret = NULL, totp_enabled = 0, last_totp_step = NULL, failed_attempts = 0, "
            "locked_until = NULL WHERE id = ?",
            (new_hash, now_text(t), uid),
        )
        ended = sessions.end_all(conn, uid, sessions.EndReason.RESET, t)
    fields = trail.with_actor({"name": state.name}, actor)
    trail.record(home, "user.reset", fields, done=f"the account {state.name!r} was reset")
    sessions.record_ended(home, state.name, ended, sessions.EndReason.RESET)
    return password


def set_role(
    home: Home,
    name: str,
    role: Role | str,
    *,
    actor: str | None = None,
    now: dt.datetime | None = None,
) -> RoleChange:
    """Change an account's role (role.changed, an alert); it applies at its next request.

    The last active administrator keeps its role.
    """
    r = parse_role(role)
    with _db(home, f"change the role of {name!r}") as conn, transaction(conn):
        uid, state = _need_active(conn, name)
        if state.role == r.value:
            raise AccessError(
                f"{state.name!r} already has the role {r.value}", hint="nothing to do"
            )
        if state.role == Role.ADMIN and _other_active_admins(conn, uid) == 0:
            raise AccessError(
                f"{state.name!r} is the last active administrator",
                hint="make another account an administrator first",
            )
        conn.execute("UPDATE users SET role = ? WHERE id = ?", (r.value, uid))
    fields = trail.with_actor({"name": state.name, "from": state.role, "role": r.value}, actor)
    trail.record(
        home,
        "role.changed",
        {**fields, **trail.ALERT},
        done=f"the role of {state.name!r} was changed to {r.value}",
    )
    return RoleChange(state.name, state.role, r)


def change_password(
    home: Home,
    name: str,
    old: str,
    new: str,
    *,
    now: dt.datetime | None = None,
    source: str | None = None,
) -> None:
    """Change an account's password, proving the current one; ends all its sessions.

    A wrong current password counts as a failed sign-in (so a stolen session cannot be used to
    guess it), and a locked account cannot change its password until the lockout ends.
    """
    # Imported here: signin builds on this module.
    from mamori.access import signin

    t = utc_now(now)
    with _db(home, f"change the password of {name!r}") as conn:
        uid, state = _need_active(conn, name)
        if state.locked_until is not None and t < state.locked_until:
            raise AccessError(
                f"the account {state.name!r} is locked until {now_text(state.locked_until)}",
                hint="wait until then, or ask an administrator to reset it",
            )
        fresh = passwords.check_policy(new, name=state.name, old=old)
        if not passwords.verify_password(state.password_hash, old).ok:
            signin.record_failure(home, conn, uid, t, source=source)
            raise AccessError(
                "the current password is wrong", hint="type the password you signed in with"
            )
        new_hash = passwords.hash_password(fresh)
        with transaction(conn):
            current = load_state(conn, state.name)
            if current is None or current[1].password_hash != state.password_hash:
                raise AccessError(
                    f"the password of {state.name!r} changed meanwhile", hint="sign in again"
                )
            conn.execute(
                "UPDATE users SET password_hash = ?, must_change_password = 0, "
                "password_changed = ?, failed_attempts = 0, locked_until = NULL WHERE id = ?",
                (new_hash, now_text(t), uid),
            )
            ended = sessions.end_all(conn, uid, sessions.EndReason.PASSWORD_CHANGED, t)
    fields: dict[str, Any] = {"name": state.name}
    if source is not None:
        fields["source"] = source
    trail.record(
        home, "user.password_changed", fields, done=f"the password of {state.name!r} was changed"
    )
    sessions.record_ended(home, state.name, ended, sessions.EndReason.PASSWORD_CHANGED)


def begin_totp_enrolment(home: Home, name: str) -> totp.Enrolment:
    """A new TOTP secret for an account that has none enabled, with its QR code.

    The secret is stored as pending; each call replaces the pending one (a reload of the
    enrolment page shows a new code). :func:`confirm_totp_enrolment` enables it.
    """
    with _db(home, f"enrol TOTP for {name!r}") as conn, transaction(conn):
        uid, state = _need_active(conn, name)
        if state.totp_enabled:
            raise AccessError(
                f"{state.name!r} already has TOTP enrolled",
                hint="to move to a new authenticator, an administrator resets the account "
                "(`mamori users reset NAME`)",
            )
        enrolment = totp.enrolment(state.name)
        conn.execute("UPDATE users SET totp_secret = ? WHERE id = ?", (enrolment.secret, uid))
    return enrolment


def confirm_totp_enrolment(
    home: Home, name: str, code: str, *, now: dt.datetime | None = None
) -> bool:
    """Enable the pending TOTP secret when `code` is a current code of it; False otherwise.

    The code's step is remembered, so the code that confirmed cannot sign in too.
    """
    t = utc_now(now)
    with _db(home, f"enrol TOTP for {name!r}") as conn, transaction(conn):
        uid, state = _need_active(conn, name)
        if state.totp_enabled:
            raise AccessError(f"{state.name!r} already has TOTP enrolled", hint="nothing to do")
        if state.totp_secret is None:
            raise AccessError(
                f"{state.name!r} has no TOTP enrolment in progress",
                hint="start one first (the enrolment page shows the QR code)",
            )
        step = totp.verify(state.totp_secret, code, t, state.last_totp_step)
        if step is None:
            return False
        conn.execute(
            "UPDATE users SET totp_enabled = 1, last_totp_step = ? WHERE id = ?", (step, uid)
        )
    trail.record(
        home, "user.totp_enrolled", {"name": state.name}, done=f"{state.name!r} enrolled TOTP"
    )
    return True
