"""What was decided about each finding, as a state machine (pure). See docs/vuln-decisions.md.

A finding is one vulnerability of one component of one system, identified by (system,
ecosystem, component name, vulnerability id) — not by version, so that a rescan after an
upgrade can tell that a fix took effect. It goes::

    detected → triaged (an OpenVEX status: under_investigation, not_affected, affected)
             → fixed (version, date, approver) → verified (a rescan no longer sees it)

and a rescan that still (or again) sees a fixed or verified finding reopens it (→ detected).
:func:`check` says whether a :class:`Transition` is allowed from a state and complete
(OpenVEX v0.2.0 §Status justifications: not_affected needs a justification, affected an action
statement); :func:`deadline` and :func:`is_overdue` say when a fix is due.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final, assert_never

import orjson

from mamori.vuln.errors import VulnError

Key = tuple[str, str, str]
"""(ecosystem, component name, vulnerability id): a finding within one system."""

SEVERITIES: Final = ("critical", "high", "medium", "low", "none", "unknown")
"""Severity labels, as :class:`mamori.vuln.severity.Label` has them."""

MAX_TEXT: Final = 4000
"""Longest note, statement, actor or version accepted (characters)."""


class State(StrEnum):
    """Where a finding is. The middle four are OpenVEX v0.2.0 statuses."""

    DETECTED = "detected"
    UNDER_INVESTIGATION = "under_investigation"
    NOT_AFFECTED = "not_affected"
    AFFECTED = "affected"
    FIXED = "fixed"
    VERIFIED = "verified"


OPEN: Final = frozenset({State.DETECTED, State.UNDER_INVESTIGATION, State.AFFECTED})
"""States in which a fix is due (and can be overdue)."""

TRIAGE_TARGETS: Final = frozenset(
    {State.UNDER_INVESTIGATION, State.NOT_AFFECTED, State.AFFECTED, State.FIXED}
)
"""The statuses a person can set (OpenVEX's four)."""


class Justification(StrEnum):
    """OpenVEX v0.2.0 §Status Justifications: why a component is not_affected."""

    COMPONENT_NOT_PRESENT = "component_not_present"
    VULNERABLE_CODE_NOT_PRESENT = "vulnerable_code_not_present"
    VULNERABLE_CODE_NOT_IN_EXECUTE_PATH = "vulnerable_code_not_in_execute_path"
    VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY = (
        "vulnerable_code_cannot_be_controlled_by_adversary"
    )
    INLINE_MITIGATIONS_ALREADY_EXIST = "inline_mitigations_already_exist"


class Kind(StrEnum):
    """What moved the finding: a scan (detect, verify, reopen) or a person (triage)."""

    DETECT = "detect"
    TRIAGE = "triage"
    VERIFY = "verify"
    REOPEN = "reopen"


@dataclass(frozen=True, slots=True)
class Fix:
    """How a finding was fixed: the version now installed, the day, who approved it."""

    version: str
    date: dt.date
    approver: str


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of a finding. Every step has an actor and a note."""

    kind: Kind
    to: State
    actor: str
    note: str
    at: dt.datetime
    """When it was decided (with its zone)."""
    justification: Justification | None = None
    """not_affected only."""
    statement: str = ""
    """not_affected: the impact statement (optional); affected: the action statement
    (required); otherwise optional free text."""
    fix: Fix | None = None
    """fixed only."""


# (kind, from) → the states it may go to; None is "no record yet".
_ALLOWED: Final[dict[tuple[Kind, State | None], frozenset[State]]] = {
    (Kind.DETECT, None): frozenset({State.DETECTED}),
    **{
        (Kind.TRIAGE, s): TRIAGE_TARGETS
        for s in (State.DETECTED, State.UNDER_INVESTIGATION, State.AFFECTED)
    },
    (Kind.TRIAGE, State.NOT_AFFECTED): frozenset(
        {State.UNDER_INVESTIGATION, State.NOT_AFFECTED, State.AFFECTED}
    ),
    (Kind.VERIFY, State.FIXED): frozenset({State.VERIFIED}),
    (Kind.REOPEN, State.FIXED): frozenset({State.DETECTED}),
    (Kind.REOPEN, State.VERIFIED): frozenset({State.DETECTED}),
}


def allowed(kind: Kind, current: State | None, to: State) -> bool:
    """Whether `kind` may move a finding from `current` to `to` (completeness aside)."""
    return to in _ALLOWED.get((kind, current), frozenset())


def check(current: State | None, t: Transition) -> State:
    """The state after `t`, or VulnError saying why `t` is refused (not allowed from
    `current`, or incomplete)."""
    _complete(t)
    if not allowed(t.kind, current, t.to):
        raise _refused(current, t)
    return t.to


def _refused(current: State | None, t: Transition) -> VulnError:
    where = "a finding not yet recorded" if current is None else f"a finding {current}"
    message = f"{t.kind} to {t.to} is not allowed for {where}"
    match current:
        case None:
            hint = "findings are recorded by a scan (mamori vuln scan) before they are triaged"
        case State.FIXED:
            hint = "a fixed finding is closed by the next scan: verified, or reopened"
        case State.VERIFIED:
            hint = "a verified finding is closed; a scan that sees it again reopens it"
        case State.NOT_AFFECTED if t.to is State.FIXED:
            hint = "a not_affected finding has nothing to fix: triage it as affected first"
        case State.DETECTED | State.UNDER_INVESTIGATION | State.AFFECTED | State.NOT_AFFECTED:
            hint = "people triage (under_investigation, not_affected, affected) or fix; " + (
                "scans detect, verify and reopen"
            )
        case _:
            assert_never(current)
    return VulnError(message, hint=hint)


def _complete(t: Transition) -> None:
    if t.at.tzinfo is None or t.at.utcoffset() is None:
        raise VulnError("the time of a decision must carry its zone", hint="pass an aware time")
    _text("actor", t.actor, required=True, hint="say who decided, e.g. --actor yamada")
    _text("statement", t.statement, required=False, hint="shorten it")
    if t.justification is not None and t.to is not State.NOT_AFFECTED:
        raise VulnError(
            f"a justification ({t.justification}) is only given for not_affected, not {t.to}",
            hint="leave --justification out, or use --status not_affected",
        )
    if t.fix is not None and t.to is not State.FIXED:
        raise VulnError(
            f"a fix is only recorded with the state fixed, not {t.to}", hint="use mamori vuln fixed"
        )
    match t.to:
        case State.NOT_AFFECTED:
            if t.justification is None:
                raise VulnError(
                    "not_affected needs an OpenVEX justification",
                    hint="--justification one of " + ", ".join(j.value for j in Justification),
                )
        case State.AFFECTED:
            if not t.statement.strip():
                raise VulnError(
                    "affected needs an action statement: what will be done, and by when",
                    hint='e.g. --statement "upgrade to 2.31.0 in the release of 2026-07-01"',
                )
        case State.FIXED:
            _check_fix(t.fix, t.at)
        case State.DETECTED | State.UNDER_INVESTIGATION | State.VERIFIED:
            pass
        case _:
            assert_never(t.to)
    # after the status's own needs: they say more about what is missing
    _text("note", t.note, required=True, hint="say why in a few words, e.g. --note ...")


def _check_fix(fix: Fix | None, at: dt.datetime) -> None:
    if fix is None:
        raise VulnError(
            "fixed needs the version now installed, the date and the approver",
            hint="use mamori vuln fixed --version V --date YYYY-MM-DD --approver NAME",
        )
    _text("version", fix.version, required=True, hint="e.g. --version 2.31.0")
    _text(
        "approver", fix.approver, required=True, hint="who approved the fix, e.g. --approver sato"
    )
    if fix.date > at.date() + dt.timedelta(days=1):  # a day of slack for zones ahead of UTC
        raise VulnError(
            f"the fix date {fix.date} is in the future",
            hint="record a fix once it is installed, with the day it was",
        )


def _text(name: str, value: str, *, required: bool, hint: str) -> None:
    if required and not value.strip():
        raise VulnError(f"the {name} is empty", hint=hint)
    if len(value) > MAX_TEXT:
        raise VulnError(f"the {name} is longer than {MAX_TEXT} characters", hint=hint)
    if any(c in value for c in "\x00\r") or any(ord(c) < 32 and c not in "\n\t" for c in value):
        raise VulnError(f"the {name} contains control characters", hint="write plain text")


def event_action(t: Transition) -> str:
    """The audit action of a transition: ``vuln.finding_<state>``, and
    ``vuln.finding_reopened`` for a reopening (its state is detected)."""
    if t.kind is Kind.REOPEN:
        return "vuln.finding_reopened"
    return f"vuln.finding_{t.to}"


def deadline(detected_on: dt.date, days: int) -> dt.date:
    """The last day a fix meets the deadline: `days` after the day of detection. A finding
    detected on 1 June with 7 days is due on 8 June and met by a fix on 8 June."""
    return detected_on + dt.timedelta(days=days)


def is_overdue(state: State, due: dt.date, today: dt.date) -> bool:
    """Whether the deadline was missed: the finding is still open after its last day."""
    return state in OPEN and today > due


def fixed_on_time(fix: Fix, due: dt.date) -> bool:
    """Whether a fix met its deadline (fixed on or before the last day)."""
    return fix.date <= due


# ---------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class ObservedFinding:
    """What a scan reports of one finding (the scan's :class:`~mamori.vuln.match.Finding`)."""

    ecosystem: str
    name: str
    version: str
    purl: str
    vuln_id: str
    """The primary id (a CVE when there is one)."""
    aliases: tuple[str, ...]
    severity: str
    """``critical``, ``high``, ``medium``, ``low``, ``none`` or ``unknown``."""
    fixed: tuple[str, ...]
    """Versions that fix it."""

    @property
    def key(self) -> Key:
        return (self.ecosystem, self.name, self.vuln_id)


@dataclass(frozen=True, slots=True)
class ObserveResult:
    """What a scan's findings changed: keys newly detected, reopened, verified."""

    detected: tuple[Key, ...]
    reopened: tuple[Key, ...]
    verified: tuple[Key, ...]
    seen: int
    """Findings the scan reported (after merging duplicate keys)."""


@dataclass(frozen=True, slots=True)
class Record:
    """A finding and its current state."""

    system: str
    ecosystem: str
    name: str
    vuln: str
    version: str
    purl: str
    aliases: tuple[str, ...]
    severity: str
    fixed_versions: tuple[str, ...]
    state: State
    detected_at: dt.datetime
    deadline: dt.date
    """The last day a fix meets the deadline."""
    updated_at: dt.datetime
    justification: str
    statement: str
    fix: Fix | None
    missed: str
    """The deadline (ISO date) a ``vuln.deadline_missed`` event was recorded for, or ""."""

    @property
    def key(self) -> Key:
        return (self.ecosystem, self.name, self.vuln)

    def overdue(self, today: dt.date) -> bool:
        return is_overdue(self.state, self.deadline, today)

    def row(self) -> tuple[object, ...]:
        """The row of the store's ``finding`` table (columns in field order)."""
        fix = self.fix
        return (self.system, self.ecosystem, self.name, self.vuln, self.version,
                self.purl, self.encode(self.aliases), self.severity,
                self.encode(self.fixed_versions), self.state.value, self.detected_at.isoformat(),
                self.deadline.isoformat(), self.updated_at.isoformat(), self.justification,
                self.statement, fix.version if fix else "", fix.date.isoformat() if fix else "",
                fix.approver if fix else "", self.missed)  # fmt: skip

    @staticmethod
    def from_row(r: Sequence[Any]) -> Record:
        fix = Fix(r[15], dt.date.fromisoformat(r[16]), r[17]) if r[16] else None
        return Record(r[0], r[1], r[2], r[3], r[4], r[5], tuple(orjson.loads(r[6])), r[7],
                      tuple(orjson.loads(r[8])), State(r[9]), dt.datetime.fromisoformat(r[10]),
                      dt.date.fromisoformat(r[11]), dt.datetime.fromisoformat(r[12]), r[13],
                      r[14], fix, r[18])  # fmt: skip

    @staticmethod
    def encode(values: Sequence[str]) -> str:
        return orjson.dumps(list(values)).decode()


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One transition (or missed deadline) of a finding, as stored."""

    at: dt.datetime
    kind: str
    """A :class:`~mamori.vuln.decisions.Kind`, or ``deadline_missed``."""
    from_state: str
    """"" for the first detection."""
    to_state: str
    actor: str
    note: str
    justification: str
    statement: str
    version: str
    fix_version: str
    fix_date: str
    approver: str


@dataclass(frozen=True, slots=True)
class Overdue:
    """A finding past its deadline, and whether this check recorded it (first time)."""

    record: Record
    days_late: int
    recorded_now: bool


def audit_fields(rec: Record, state: State, actor: str) -> dict[str, Any]:
    """The fields of a finding's audit event (docs/vuln-decisions.md#events)."""
    return {
        "system": rec.system,
        "ecosystem": rec.ecosystem,
        "component": rec.name,
        "version": rec.version,
        "vulnerability": rec.vuln,
        "aliases": list(rec.aliases),
        "severity": rec.severity,
        "state": state.value,
        "justification": rec.justification,
        "actor": actor,
        "deadline": rec.deadline.isoformat(),
    }


def check_observed(f: ObservedFinding) -> None:
    for label, value in (("ecosystem", f.ecosystem), ("component name", f.name),
                         ("vulnerability id", f.vuln_id)):  # fmt: skip
        check_name(label, value)
    if f.severity not in SEVERITIES:
        raise VulnError(
            f"{f.vuln_id}: severity {f.severity!r} is not a label",
            hint=f"use one of {', '.join(SEVERITIES)}",
        )


def check_name(label: str, value: str) -> None:
    if not value.strip() or len(value) > 512 or any(ord(c) < 32 for c in value):
        raise VulnError(
            f"the {label} {value[:80]!r} is empty, too long or holds control characters",
            hint=f"give the {label} as the inventory names it",
        )
