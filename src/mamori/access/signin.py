"""Signing in: a pure decision on the stored account, and the edge that applies it.

The sequence (docs/access.md draws it):

1. Name and password, and the TOTP code when the account has TOTP. A wrong password and a
   wrong, missing or replayed code are both failures; 5 in a row lock the account for 15
   minutes, during which even the right password is refused (`locked`). The count starts
   again after a success or when a lockout ends.
2. Password right, no TOTP enrolled yet (a new or reset account): `totp_enrolment_required`,
   and a `setup` session that may only enrol TOTP (:func:`mamori.access.users.begin_totp_enrolment`,
   :func:`~mamori.access.users.confirm_totp_enrolment`) and change the password.
3. Password and code right, password still the one-time one: `must_change`, a `setup` session
   that may only change the password. Changing it ends every session of the account; the
   person signs in again with the new password and a code.
4. Password and code right: `ok`, a `full` session with what the role allows.

A disabled account is refused (`disabled`) whatever is typed; a name without an account gets
`bad_password` after the same work as a real check, so timing does not tell names apart.
Every attempt is an audit event: user.signed_in, user.sign_in_failed (with the reason, never
the password), user.locked (an alert).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, assert_never

from mamori.access import passwords, totp, trail
from mamori.access.db import connect, now_text, transaction, utc_now
from mamori.access.errors import AccessError
from mamori.access.sessions import Stage
from mamori.access.users import UserState, load_state
from mamori.home import Home

LOCKOUT_THRESHOLD: Final = 5
"""Consecutive failures that lock an account."""
LOCKOUT_DURATION: Final = dt.timedelta(minutes=15)
"""How long a lockout lasts."""
TOTP_REQUIRED: Final = True
"""Whether an account must have TOTP to get a full session (configurable later)."""

_MAX_NAME_IN_AUDIT = 64


class Outcome(StrEnum):
    """What a sign-in attempt came to."""

    OK = "ok"
    BAD_PASSWORD = "bad_password"  # noqa: S105 (an outcome, not a password)
    BAD_TOTP = "bad_totp"
    LOCKED = "locked"
    DISABLED = "disabled"
    MUST_CHANGE = "must_change"
    TOTP_ENROLMENT_REQUIRED = "totp_enrolment_required"

    @property
    def stage(self) -> Stage | None:
        """The session this outcome earns; None for a refusal."""
        match self:
            case Outcome.OK:
                return Stage.FULL
            case Outcome.MUST_CHANGE | Outcome.TOTP_ENROLMENT_REQUIRED:
                return Stage.SETUP
            case Outcome.BAD_PASSWORD | Outcome.BAD_TOTP | Outcome.LOCKED | Outcome.DISABLED:
                return None
            case _:
                assert_never(self)


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one attempt and the account's state after it."""

    outcome: Outcome
    state: UserState | None
    """The new state to store; None when there is no account."""
    newly_locked: bool = False
    """This attempt was the one that locked the account."""


def failure(state: UserState, now: dt.datetime) -> tuple[UserState, bool]:
    """`state` after one more failure at `now`, and whether that failure locks the account."""
    failed = state.failed_attempts + 1
    if failed >= LOCKOUT_THRESHOLD:
        return dataclasses.replace(
            state, failed_attempts=failed, locked_until=now + LOCKOUT_DURATION
        ), True
    return dataclasses.replace(state, failed_attempts=failed), False


def unlocked(state: UserState, now: dt.datetime) -> UserState | None:
    """`state` with an ended lockout cleared (its failures forgotten); None while it lasts."""
    if state.locked_until is None:
        return state
    if now < state.locked_until:
        return None
    return dataclasses.replace(state, locked_until=None, failed_attempts=0)


def needs_password_check(state: UserState | None, now: dt.datetime) -> bool:
    """Whether :func:`decide` will look at the password for this state (not for a disabled or
    locked account, so a lockout also spares the work of hashing)."""
    return state is not None and state.disabled_at is None and unlocked(state, now) is not None


def decide(
    state: UserState | None,
    password_ok: bool,
    totp_code: str | None,
    now: dt.datetime,
    *,
    require_totp: bool = TOTP_REQUIRED,
) -> Decision:
    """The outcome of a sign-in attempt, given the stored account (None: no such account),
    whether the password matched, the TOTP code typed, and the time. Pure."""
    if state is None:
        return Decision(Outcome.BAD_PASSWORD, None)
    if state.disabled_at is not None:
        return Decision(Outcome.DISABLED, state)
    current = unlocked(state, now)
    if current is None:
        return Decision(Outcome.LOCKED, state)
    if not password_ok:
        failed, locked = failure(current, now)
        return Decision(Outcome.BAD_PASSWORD, failed, locked)
    if current.totp_enabled:
        step = (
            None
            if current.totp_secret is None
            else totp.verify(current.totp_secret, totp_code, now, current.last_totp_step)
        )
        if step is None:
            failed, locked = failure(current, now)
            return Decision(Outcome.BAD_TOTP, failed, locked)
        current = dataclasses.replace(current, last_totp_step=step)
        outcome = Outcome.MUST_CHANGE if current.must_change_password else Outcome.OK
    elif require_totp:
        outcome = Outcome.TOTP_ENROLMENT_REQUIRED
    else:
        outcome = Outcome.MUST_CHANGE if current.must_change_password else Outcome.OK
    done = dataclasses.replace(current, failed_attempts=0, locked_until=None, last_sign_in=now)
    return Decision(outcome, done)


@dataclass(frozen=True, slots=True)
class SignInResult:
    """What the console needs after an attempt."""

    outcome: Outcome
    name: str
    """The account's name as stored (as typed when there is no account)."""
    role: str | None
    """The account's role; None when there is no account."""
    locked_until: dt.datetime | None = None
    """When the lockout ends, for `locked` and for the failure that locked."""

    @property
    def stage(self) -> Stage | None:
        """The session to create (:meth:`mamori.access.sessions.SessionStore.create`), if any."""
        return self.outcome.stage


def _store(conn: sqlite3.Connection, uid: int, s: UserState, new_hash: str | None) -> None:
    conn.execute(
        "UPDATE users SET failed_attempts = ?, locked_until = ?, last_totp_step = ?, "
        "last_sign_in = ?, password_hash = coalesce(?, password_hash) WHERE id = ?",
        (
            s.failed_attempts,
            None if s.locked_until is None else now_text(s.locked_until),
            s.last_totp_step,
            None if s.last_sign_in is None else now_text(s.last_sign_in),
            new_hash,
            uid,
        ),
    )


def sign_in(
    home: Home,
    name: str,
    password: str,
    totp_code: str | None = None,
    now: dt.datetime | None = None,
    *,
    source: str | None = None,
    require_totp: bool = TOTP_REQUIRED,
) -> SignInResult:
    """One sign-in attempt: checks, decides, stores the new state, records the audit events.

    `source` (the client's address) goes into the audit events. Creates no session: the
    caller creates the one :attr:`SignInResult.stage` names.
    """
    t = utc_now(now)
    conn = connect(home.access_db)
    try:
        # The password is checked outside the write transaction: Argon2 takes a fifth of a
        # second, and other writers (session look-ups) should not wait for it.
        before = load_state(conn, name)
        checked: str | None = None  # the hash the password was checked against
        verified = passwords.Verified(ok=False)
        if before is None:
            passwords.burn_time(password)
        elif needs_password_check(before[1], t):
            checked = before[1].password_hash
            verified = passwords.verify_password(checked, password)
        new_hash = (
            passwords.hash_password(password) if verified.ok and verified.needs_rehash else None
        )
        with transaction(conn):
            found = load_state(conn, name)
            state = None if found is None else found[1]
            if (
                state is not None
                and needs_password_check(state, t)
                and checked != state.password_hash
            ):
                # Changed meanwhile (a reset, a password change): check against what is stored.
                verified = passwords.verify_password(state.password_hash, password)
                new_hash = None
            decision = decide(state, verified.ok, totp_code, t, require_totp=require_totp)
            if found is not None and decision.state is not None:
                stage_ok = decision.outcome.stage is not None
                _store(conn, found[0], decision.state, new_hash if stage_ok else None)
    except sqlite3.Error as e:
        raise AccessError(f"cannot check the sign-in of {name!r}: {e}") from e
    finally:
        conn.close()
    result = SignInResult(
        decision.outcome,
        name if state is None else state.name,
        None if state is None else state.role,
        None if decision.state is None else decision.state.locked_until,
    )
    _audit(home, result, decision, known=state is not None, source=source)
    return result


def _audit(
    home: Home, result: SignInResult, decision: Decision, *, known: bool, source: str | None
) -> None:
    base: dict[str, Any] = {"name": result.name[:_MAX_NAME_IN_AUDIT]}
    if source is not None:
        base["source"] = source
    if result.stage is not None:
        trail.record(
            home,
            "user.signed_in",
            {**base, "result": result.outcome.value},
            done=f"{result.name!r} signed in",
        )
    else:
        reason = result.outcome.value if known else "unknown_account"
        trail.record(
            home,
            "user.sign_in_failed",
            {**base, "reason": reason},
            outcome="failure",
            done=f"a sign-in as {result.name!r} failed",
        )
    if decision.newly_locked:
        _record_locked(home, base, result.locked_until)


def _record_locked(home: Home, base: dict[str, Any], until: dt.datetime | None) -> None:
    fields = {
        **base,
        "failures": LOCKOUT_THRESHOLD,
        "until": None if until is None else now_text(until),
        **trail.ALERT,
    }
    trail.record(home, "user.locked", fields, done=f"the account {base['name']!r} was locked")


def record_failure(
    home: Home, conn: sqlite3.Connection, uid: int, now: dt.datetime, *, source: str | None
) -> None:
    """Count a wrong current password given to change it (user.password_change_failed), and
    lock the account as a failed sign-in would."""
    with transaction(conn):
        found = load_state(conn, _name_of(conn, uid))
        assert found is not None
        current = unlocked(found[1], now)
        if current is None:  # locked meanwhile
            return
        state, locked = failure(current, now)
        _store(conn, uid, state, None)
    base: dict[str, Any] = {"name": state.name}
    if source is not None:
        base["source"] = source
    trail.record(
        home,
        "user.password_change_failed",
        {**base, "reason": Outcome.BAD_PASSWORD.value},
        outcome="failure",
        done=f"a password change of {state.name!r} failed",
    )
    if locked:
        _record_locked(home, base, state.locked_until)


def _name_of(conn: sqlite3.Connection, uid: int) -> str:
    row = conn.execute("SELECT name FROM users WHERE id = ?", (uid,)).fetchone()
    return str(row[0])
