"""The values of incidents (FLT-1…4, LAW-4): stages, steps, alerts linked, breach details (pure).

Times are timezone-aware :class:`datetime.datetime` values; they are stored and shown in JSON as
ISO 8601 in UTC (:func:`iso`). Every enum has a Japanese label for reports and the console.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NewType

IncidentId = NewType("IncidentId", str)
"""`INC-YYYY-NNNN`: the year of detection in the calendar zone, then a number within it."""

AlertId = NewType("AlertId", str)
"""An alert's id in the alert store, as text."""


class Level(StrEnum):
    """Urgency, impact and recurrence likelihood (ITIL's three levels)."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def ja(self) -> str:
        return {"high": "高", "medium": "中", "low": "低"}[self.value]


class Priority(StrEnum):
    """P1 (most urgent) … P5; from urgency × impact by `[incidents.priority]`."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"
    P5 = "P5"


class Category(StrEnum):
    """What kind of incident. `breach` is a personal-information breach (LAW-4)."""

    SECURITY = "security"
    FAILURE = "failure"
    PERFORMANCE = "performance"
    BREACH = "breach"
    OTHER = "other"

    @property
    def ja(self) -> str:
        return {
            "security": "セキュリティインシデント",
            "failure": "障害",
            "performance": "性能劣化",
            "breach": "個人情報の漏えい等",
            "other": "その他",
        }[self.value]


class Stage(StrEnum):
    """The FLT-1 stages, in order, then `closed`."""

    DETECTED = "detected"
    ISOLATED = "isolated"
    VENDOR_CONTACTED = "vendor_contacted"
    RECOVERY_CONFIRMED = "recovery_confirmed"
    REPORTED = "reported"
    CLOSED = "closed"

    @property
    def ja(self) -> str:
        return {
            "detected": "検知",
            "isolated": "切り分け",
            "vendor_contacted": "保守事業者連絡",
            "recovery_confirmed": "復旧確認",
            "reported": "報告",
            "closed": "完了",
        }[self.value]

    @property
    def order(self) -> int:
        return list(Stage).index(self)


WORK_STAGES: tuple[Stage, ...] = (
    Stage.DETECTED,
    Stage.ISOLATED,
    Stage.VENDOR_CONTACTED,
    Stage.RECOVERY_CONFIRMED,
    Stage.REPORTED,
)
"""The FLT-1 stages an incident goes through before it can be closed."""


class StepKind(StrEnum):
    """What a step of an incident's history did."""

    DETECTED = "detected"
    """The incident was created (at its detection time)."""
    REACHED = "reached"
    """A stage was reached."""
    SKIPPED = "skipped"
    """A stage was passed over, with a reason."""
    REOPENED = "reopened"
    """Back to `isolated` from `reported` or `closed`, with a reason."""
    CLOSED = "closed"
    MERGED = "merged"
    """Closed because it was merged into another incident."""


class CountermeasureState(StrEnum):
    OPEN = "open"
    DONE = "done"


class ReportKind(StrEnum):
    """A message to the CSIRT (FLT-4): 第1報 (速報), 続報 (第2報, 第3報, …), 最終報告."""

    FIRST = "first"
    FOLLOWUP = "followup"
    FINAL = "final"


PRIORITY_SEVERITY: dict[Priority, str] = {
    Priority.P1: "critical",
    Priority.P2: "high",
    Priority.P3: "medium",
    Priority.P4: "low",
    Priority.P5: "low",
}
"""The notification severity of an incident's reports and notices, from its priority."""

_WEEKDAYS = "月火水木金土日"


def jp_time(t: dt.datetime | None, zone: dt.tzinfo) -> str:
    """`2026年11月27日(金) 10:15 JST`; 不明 for None."""
    if t is None:
        return "不明（調査中）"
    local = t.astimezone(zone)
    return (
        f"{local.year}年{local.month}月{local.day}日({_WEEKDAYS[local.weekday()]}) "
        f"{local:%H:%M} {local.tzname()}"
    )


def iso(t: dt.datetime | None) -> str | None:
    """`t` in UTC, ISO 8601 with `Z`; None stays None."""
    if t is None:
        return None
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> dt.datetime:
    """A time written by :func:`iso` (or any ISO 8601 time with a zone)."""
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone")
    return t


def parse_iso_opt(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_iso(text)


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of an incident's history: who did what, when, and why."""

    seq: int
    kind: StepKind
    stage: Stage
    """The stage reached (or skipped); for reopen, `isolated`; for close and merge, `closed`."""
    actor: str
    at: dt.datetime
    note: str = ""
    reason: str = ""
    """Why a stage was skipped, the incident reopened, or merged."""

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind.value,
            "stage": self.stage.value,
            "stage_ja": self.stage.ja,
            "actor": self.actor,
            "at": iso(self.at),
            "note": self.note,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class AlertRef:
    """What the incidents need to know of an alert (from the alert store, via linkage)."""

    id: AlertId
    rule: str
    title: str
    severity: str
    """A Sigma level: informational, low, medium, high, critical."""
    summary: str = ""
    clauses: tuple[str, ...] = ()
    events: tuple[int, ...] = ()
    """Ledger indices of the events behind the alert."""
    group: tuple[tuple[str, str], ...] = ()
    """The identifying values (host.name, user.name, source.ip, …)."""
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    state: str = ""

    def values(self, name: str) -> tuple[str, ...]:
        return tuple(v for k, v in self.group if k == name and v)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity,
            "summary": self.summary,
            "clauses": list(self.clauses),
            "events": list(self.events),
            "group": [list(kv) for kv in self.group],
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "link": f"/alerts/{self.id}",
        }


@dataclass(frozen=True, slots=True)
class BreachDetails:
    """A personal-information breach (LAW-4): what must be reported to the agency at once."""

    what_happened: str
    """発生した事態."""
    damage: str
    """被害の状況."""
    containment: str
    """二次被害の防止策."""
    recovery: str
    """復旧策."""
    persons_response: str
    """本人への対応."""
    persons_affected: int | None
    """本人の数; None while unknown."""
    data_items: tuple[str, ...]
    """The kinds of personal information concerned (氏名, 住所, …)."""
    recognised_at: dt.datetime
    """When the incident was recognised as a breach: the report timer runs from here."""

    def as_json(self) -> dict[str, Any]:
        return {
            "what_happened": self.what_happened,
            "damage": self.damage,
            "containment": self.containment,
            "recovery": self.recovery,
            "persons_response": self.persons_response,
            "persons_affected": self.persons_affected,
            "data_items": list(self.data_items),
            "recognised_at": iso(self.recognised_at),
        }


BREACH_FIELDS: tuple[tuple[str, str], ...] = (
    ("what_happened", "発生した事態"),
    ("damage", "被害の状況"),
    ("containment", "二次被害の防止策"),
    ("recovery", "復旧策"),
    ("persons_response", "本人への対応"),
)
"""The text fields of a breach, with their names in the report; every one is required."""


@dataclass(frozen=True, slots=True)
class Targets:
    """Minutes from detection to each due time, for one priority (from `[incidents.targets]`)."""

    response_minutes: int
    isolated_minutes: int
    vendor_contacted_minutes: int
    resolution_minutes: int
    """Until recovery is confirmed."""
    reported_minutes: int

    def as_json(self) -> dict[str, int]:
        return {
            "response_minutes": self.response_minutes,
            "isolated_minutes": self.isolated_minutes,
            "vendor_contacted_minutes": self.vendor_contacted_minutes,
            "resolution_minutes": self.resolution_minutes,
            "reported_minutes": self.reported_minutes,
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as stored, with what its timers need."""

    id: IncidentId
    title: str
    description: str
    category: Category
    urgency: Level
    impact: Level
    priority: Priority
    assignee: str | None
    detected_at: dt.datetime
    occurred_at: dt.datetime | None
    """When it started (the earliest event of its alerts, or as given); None while unknown."""
    created_at: dt.datetime
    created_by: str
    stage: Stage
    steps: tuple[Step, ...]
    targets: Targets
    """The due times of its priority, from the configuration now in force."""
    alerts: tuple[AlertRef, ...] = ()
    hosts: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    breach: BreachDetails | None = None
    breach_report_minutes: int = 60
    merged_into: IncidentId | None = None
    csirt_sent: tuple[dt.datetime, ...] = ()
    """When each report went to the CSIRT, oldest first."""
    review_completed: bool = False

    @property
    def rules(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.rule for a in self.alerts if a.rule))

    @property
    def needs_review(self) -> bool:
        """FLT-2: P1/P2 and breach incidents are closed only after a completed review."""
        return self.priority in (Priority.P1, Priority.P2) or self.category is Category.BREACH

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "category": self.category.value,
            "urgency": self.urgency.value,
            "impact": self.impact.value,
            "priority": self.priority.value,
            "assignee": self.assignee,
            "detected_at": iso(self.detected_at),
            "occurred_at": iso(self.occurred_at),
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "stage": self.stage.value,
            "stage_ja": self.stage.ja,
            "steps": [s.as_json() for s in self.steps],
            "alerts": [a.as_json() for a in self.alerts],
            "rules": list(self.rules),
            "hosts": list(self.hosts),
            "users": list(self.users),
            "breach": None if self.breach is None else self.breach.as_json(),
            "merged_into": self.merged_into,
            "csirt_sent": [iso(t) for t in self.csirt_sent],
            "review_completed": self.review_completed,
            "needs_review": self.needs_review,
            "targets": self.targets.as_json(),
        }


@dataclass(frozen=True, slots=True)
class CsirtMessage:
    """A report sent to the CSIRT, as sent."""

    incident_id: IncidentId
    number: int
    """1 for the first report (第1報), then 2, 3, … for every later one."""
    kind: ReportKind
    subject: str
    body: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    sent_at: dt.datetime
    actor: str

    def as_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id,
            "number": self.number,
            "kind": self.kind.value,
            "subject": self.subject,
            "body": self.body,
            "to": list(self.to),
            "cc": list(self.cc),
            "sent_at": iso(self.sent_at),
            "actor": self.actor,
        }


@dataclass(frozen=True, slots=True)
class Countermeasure:
    """A permanent countermeasure of a review (FLT-2), tracked until done."""

    id: int
    incident_id: IncidentId
    text: str
    owner: str
    due: dt.date
    state: CountermeasureState
    created_at: dt.datetime
    created_by: str
    done_at: dt.datetime | None = None
    done_by: str | None = None
    note: str = ""

    def overdue(self, today: dt.date) -> bool:
        return self.state is CountermeasureState.OPEN and self.due < today

    def as_json(self, today: dt.date | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "incident": self.incident_id,
            "text": self.text,
            "owner": self.owner,
            "due": self.due.isoformat(),
            "state": self.state.value,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "done_at": iso(self.done_at),
            "done_by": self.done_by,
            "note": self.note,
        }
        if today is not None:
            out["overdue"] = self.overdue(today)
        return out


@dataclass(frozen=True, slots=True)
class PastOccurrence:
    """Something like this incident that happened before it (FLT-2)."""

    kind: str
    """`incident` (an earlier incident) or `event` (a ledger event)."""
    ref: str
    """The incident id, or the ledger index as text."""
    when: dt.datetime | None
    matched: tuple[str, ...]
    """What it shares with the incident: `rule:…`, `host:…`, `user:…`, `title`."""
    summary: str
    link: str
    """The console path: /incidents/INC-…, /events/INDEX."""

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "when": iso(self.when),
            "matched": list(self.matched),
            "summary": self.summary,
            "link": self.link,
        }


@dataclass(frozen=True, slots=True)
class PastOccurrences:
    """The past occurrences found, and whether the search could look everywhere."""

    items: tuple[PastOccurrence, ...]
    complete: bool = True
    """False when the ledger could not be searched: the list is then not the whole answer."""
    problem: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "items": [p.as_json() for p in self.items],
            "complete": self.complete,
            "problem": self.problem,
        }


@dataclass(frozen=True, slots=True)
class Review:
    """The post-incident review (FLT-2)."""

    incident_id: IncidentId
    cause: str = ""
    impact: str = ""
    recurrence: Level | None = None
    recurrence_reason: str = ""
    past: PastOccurrences = field(default_factory=lambda: PastOccurrences(()))
    completed_at: dt.datetime | None = None
    completed_by: str | None = None
    updated_at: dt.datetime | None = None
    updated_by: str | None = None

    @property
    def completed(self) -> bool:
        return self.completed_at is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident_id,
            "cause": self.cause,
            "impact": self.impact,
            "recurrence": None if self.recurrence is None else self.recurrence.value,
            "recurrence_reason": self.recurrence_reason,
            "past": self.past.as_json(),
            "completed": self.completed,
            "completed_at": iso(self.completed_at),
            "completed_by": self.completed_by,
            "updated_at": iso(self.updated_at),
            "updated_by": self.updated_by,
        }
