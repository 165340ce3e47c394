"""Row and time policies (DB-3): warn, or block, when a user who holds the access right reads
too many rows or reads at an unnatural time.

Pure: the proxy hands in values (:class:`~mamori.dbguard.facts.Statement`, a row count,
:class:`~mamori.dbguard.facts.Result`) and the clock is an argument, so every edge is testable.
The proxy calls, per statement:

* :meth:`Policies.before` once, before forwarding it (time policy);
* :meth:`Policies.rows` while rows stream back, with the count so far (blocking row limits:
  O(1), no allocation on the common path);
* :meth:`Policies.after` once, when it completed or was cancelled (row alerts).

The per-user window is a sliding window over completed statements' ``rows_returned``, kept
as at most :data:`WINDOW_SLOTS` + 1 entries per user (rows within ``rows_window_s / 64`` of
each other share one entry; an entry expires ``rows_window_s`` after its *last* rows, so the
window may count rows up to that long after they are due to leave it, never less). At most
`max_users` users are tracked; when a new one arrives at the limit, the least recently seen
is forgotten (their rows are the oldest, so their window is the first to have emptied).
"""

from __future__ import annotations

import datetime as dt
import enum
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, assert_never

from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.facts import Decision, Reason, Result, Statement, Verdict
from mamori.detect.calendar import BusinessCalendar, Classification
from mamori.detect.calendar import Reason as CalendarReason

CLAUSE: Final = "DB-3"

OUTSIDE_HOURS: Final = "policy.outside_hours"
"""Code: a statement outside business hours on a working day, or on a weekend."""
HOLIDAY: Final = "policy.holiday"
"""Code: a statement on a national holiday or an extra holiday of ``[calendar]``."""
YEAR_END: Final = "policy.year_end"
"""Code: a statement during the year-end closure."""
ROWS_STATEMENT: Final = "policy.rows_statement"
"""Code: one statement returned more rows than ``rows_per_statement``."""
ROWS_WINDOW: Final = "policy.rows_window"
"""Code: one user's statements returned more than ``rows_per_window`` rows within
``rows_window_s`` seconds."""

REASON_CODES: Final = (OUTSIDE_HOURS, HOLIDAY, YEAR_END, ROWS_STATEMENT, ROWS_WINDOW)
"""Every reason code this module gives (the docs name each one)."""

WINDOW_SLOTS: Final = 64
"""Slots per window: rows closer together than ``rows_window_s / WINDOW_SLOTS`` share one."""
_CACHE_MINUTES: Final = 4096


class TimePolicy(enum.StrEnum):
    """``time_policy`` of ``[[dbguard]]``: what a statement outside business time gets."""

    OFF = "off"
    ALERT = "alert"
    BLOCK = "block"

    @property
    def verdict(self) -> Verdict:
        """The verdict for a statement outside business time."""
        match self:
            case TimePolicy.OFF:
                return Verdict.ALLOW
            case TimePolicy.ALERT:
                return Verdict.ALERT
            case TimePolicy.BLOCK:
                return Verdict.BLOCK
            case _:
                assert_never(self)


def time_reason(c: Classification) -> Reason | None:
    """The reason a moment's classification gives a statement, None in business hours."""
    match c.reason:
        case CalendarReason.BUSINESS_HOURS:
            return None
        case CalendarReason.OUTSIDE_HOURS:
            return Reason(
                OUTSIDE_HOURS,
                f"statement outside business hours ({c.local:%a %H:%M %Z})",
                CLAUSE,
            )
        case CalendarReason.WEEKEND:
            return Reason(OUTSIDE_HOURS, f"statement on a weekend ({c.local:%A %H:%M %Z})", CLAUSE)
        case CalendarReason.HOLIDAY:
            return Reason(
                HOLIDAY,
                f"statement on a public holiday: {c.holiday} ({c.local:%Y-%m-%d %H:%M %Z})",
                CLAUSE,
            )
        case CalendarReason.YEAR_END:
            return Reason(
                YEAR_END,
                f"statement during the year-end closure ({c.local:%Y-%m-%d %H:%M %Z})",
                CLAUSE,
            )
        case _:
            assert_never(c.reason)


@dataclass(slots=True)
class _Window:
    """One user's rows in the sliding window: (last time, rows) slots, oldest first."""

    slots: deque[list[float]] = field(default_factory=deque)
    """Each slot is ``[first, last, rows]``."""
    total: int = 0
    alerted_at: float | None = None
    """When ``policy.rows_window`` was last raised for this user."""

    def expire(self, now: float, window: float) -> None:
        slots = self.slots
        while slots and now - slots[0][1] >= window:
            self.total -= int(slots.popleft()[2])

    def add(self, now: float, rows: int, granularity: float) -> None:
        slots = self.slots
        if slots and now - slots[-1][0] < granularity:
            last = slots[-1]
            last[1] = max(last[1], now)
            last[2] += rows
        else:
            slots.append([now, now, float(rows)])
        self.total += rows


UserKey = tuple[str, str]
"""``("end_user", name)`` for a verified end user, else ``("role", name)``."""


def user_key(stmt: Statement) -> UserKey:
    """Whom a statement's rows count against: the end user when verified, else the role."""
    s = stmt.session
    if s.end_user and s.end_user_verified:
        return ("end_user", s.end_user)
    return ("role", s.role)


def _who(key: UserKey) -> str:
    return f"end user {key[1]}" if key[0] == "end_user" else f"role {key[1]}"


class Policies:
    """The row and time policies of one ``[[dbguard]]`` (see the module docstring).

    Not thread-safe: the proxy calls it from its event loop.
    """

    def __init__(
        self,
        rows_per_statement: int,
        rows_per_window: int,
        rows_window_s: float,
        rows_block: bool,
        time_policy: TimePolicy | str,
        exempt_roles: frozenset[str],
        calendar: BusinessCalendar,
        clock: Callable[[], float],
        *,
        max_users: int = 100_000,
    ) -> None:
        """`rows_per_statement` / `rows_per_window` of 0 turn that limit off; `exempt_roles`
        (batch accounts) are exempt from the time policy only. Raises :class:`DbGuardError`
        naming the setting when a value is out of range."""
        if rows_per_statement < 0:
            raise DbGuardError(
                f"rows_per_statement = {rows_per_statement} is negative",
                hint="give a row count, or 0 to turn the per-statement limit off",
            )
        if rows_per_window < 0:
            raise DbGuardError(
                f"rows_per_window = {rows_per_window} is negative",
                hint="give a row count, or 0 to turn the per-user window off",
            )
        if rows_per_window and not rows_window_s > 0:
            raise DbGuardError(
                f"rows_window_s = {rows_window_s} is not a positive number of seconds",
                hint="e.g. rows_window_s = 3600 for a one-hour window",
            )
        try:
            self.time_policy = TimePolicy(time_policy)
        except ValueError as e:
            raise DbGuardError(
                f"time_policy = {time_policy!r} is not known",
                hint="use one of " + ", ".join(repr(p.value) for p in TimePolicy),
            ) from e
        if max_users < 1:
            raise DbGuardError(f"max_users = {max_users} must be at least 1")
        self.rows_per_statement = rows_per_statement
        self.rows_per_window = rows_per_window
        self.rows_window_s = float(rows_window_s)
        self.rows_block = rows_block
        self.exempt_roles = frozenset(exempt_roles)
        self.calendar = calendar
        self.clock = clock
        self.max_users = max_users
        self._granularity = self.rows_window_s / WINDOW_SLOTS
        self._minutes: dict[int, Reason | None] = {}
        self._users: OrderedDict[UserKey, _Window] = OrderedDict()

    # --- time ------------------------------------------------------------------------------

    def time_reason(self, at: float) -> Reason | None:
        """Why `at` (epoch seconds) is outside business time, None when inside; cached per
        minute (business hours are whole minutes, ``HH:MM``)."""
        minute = int(at // 60)
        try:
            return self._minutes[minute]
        except KeyError:
            pass
        moment = dt.datetime.fromtimestamp(minute * 60, dt.UTC)
        reason = time_reason(self.calendar.classify(moment))
        if len(self._minutes) >= _CACHE_MINUTES:
            self._minutes.clear()
        self._minutes[minute] = reason
        return reason

    def before(self, stmt: Statement) -> Decision:
        """The time policy on a statement about to run (at ``stmt.at``)."""
        if self.time_policy is TimePolicy.OFF or stmt.session.role in self.exempt_roles:
            return Decision()
        reason = self.time_reason(stmt.at)
        if reason is None:
            return Decision()
        return Decision(self.time_policy.verdict, (reason,))

    # --- rows ------------------------------------------------------------------------------

    def _window(self, key: UserKey, now: float, create: bool) -> _Window | None:
        users = self._users
        w = users.get(key)
        if w is None:
            if not create:
                return None
            if len(users) >= self.max_users:
                self._evict()
            w = users[key] = _Window()
        else:
            users.move_to_end(key)
        w.expire(now, self.rows_window_s)
        return w

    def _evict(self) -> None:
        """Make room for one user: forget the least recently seen (O(1)); their rows are the
        oldest, so their window is the first to have emptied."""
        while len(self._users) >= self.max_users:
            self._users.popitem(last=False)

    def window_total(self, stmt: Statement) -> int:
        """The rows the statement's user's completed statements returned in the window."""
        w = self._window(user_key(stmt), self.clock(), create=False)
        return 0 if w is None else w.total

    def rows(self, stmt: Statement, n: int) -> Decision:
        """The blocking row limits, while rows stream: `n` is the statement's rows so far.

        BLOCK (with ``rows_block``) when `n` passes ``rows_per_statement``, or the user's
        window total plus `n` passes ``rows_per_window``; else ALLOW. Alerts come from
        :meth:`after`. O(1): one dictionary look-up and the expiry of old slots.
        """
        if not self.rows_block:
            return Decision()
        limit = self.rows_per_statement
        if limit and n > limit:
            return Decision(Verdict.BLOCK, (self._statement_reason(n, stopped=True),))
        window_limit = self.rows_per_window
        if window_limit:
            key = user_key(stmt)
            w = self._users.get(key)
            total = n
            if w is not None:
                w.expire(self.clock(), self.rows_window_s)
                total += w.total
            if total > window_limit:
                return Decision(Verdict.BLOCK, (self._window_reason(key, total, stopped=True),))
        return Decision()

    def after(self, stmt: Statement, result: Result) -> Decision:
        """The row alerts on a completed (or cancelled) statement, whose rows now count in its
        user's window: ALERT ``policy.rows_statement`` when it returned more than
        ``rows_per_statement``; ALERT ``policy.rows_window`` when the user's window total
        passes ``rows_per_window``, once per window. Reasons the proxy already cancelled the
        statement for (``result.cancelled_by``) are not repeated."""
        n = result.rows_returned
        reasons: list[Reason] = []
        done = {r.code for r in result.cancelled_by}
        limit = self.rows_per_statement
        if limit and n > limit and ROWS_STATEMENT not in done:
            reasons.append(self._statement_reason(n, stopped=False))
        if self.rows_per_window:
            now = self.clock()
            key = user_key(stmt)
            w = self._window(key, now, create=n > 0)
            if w is not None:
                if n > 0:
                    w.add(now, n, self._granularity)
                if w.total > self.rows_per_window and (
                    w.alerted_at is None or now - w.alerted_at >= self.rows_window_s
                ):
                    w.alerted_at = now
                    if ROWS_WINDOW not in done:
                        reasons.append(self._window_reason(key, w.total, stopped=False))
        if not reasons:
            return Decision()
        return Decision(Verdict.ALERT, tuple(reasons))

    def _statement_reason(self, n: int, *, stopped: bool) -> Reason:
        what = "stopped at" if stopped else "returned"
        return Reason(
            ROWS_STATEMENT,
            f"statement {what} {n} rows, over the limit of {self.rows_per_statement} "
            "rows per statement",
            CLAUSE,
        )

    def _window_reason(self, key: UserKey, total: int, *, stopped: bool) -> Reason:
        verb = "would have read" if stopped else "read"
        return Reason(
            ROWS_WINDOW,
            f"{_who(key)} {verb} {total} rows within {self.rows_window_s:g} s, over the limit "
            f"of {self.rows_per_window}",
            CLAUSE,
        )
