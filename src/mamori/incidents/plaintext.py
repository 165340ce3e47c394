"""Incidents, timers, past occurrences, countermeasures and tickets as lines of plain text for
a person at a terminal (pure): what `mamori incidents …` and `mamori tickets …` print without
`--json`. Times are shown in the calendar zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from mamori.incidents.model import Countermeasure, CsirtMessage, Incident, PastOccurrences, Review
from mamori.incidents.tickets import Ticket
from mamori.incidents.workflow import Timer


def local_time(t: dt.datetime, zone: dt.tzinfo) -> str:
    """2026-11-27 10:15 JST."""
    local = t.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def incident_head(inc: Incident) -> list[str]:
    """The id, priority, title, stage, category, levels and assignee."""
    return [
        f"{inc.id}  [{inc.priority.value}] {inc.title}",
        f"  stage {inc.stage.value} ({inc.stage.ja})  category {inc.category.value}  "
        f"urgency {inc.urgency.value}  impact {inc.impact.value}  "
        f"assignee {inc.assignee or '-'}",
    ]


def incident_table(rows: Sequence[tuple[Incident, Sequence[str]]], zone: dt.tzinfo) -> list[str]:
    """One line per incident, with the names of its breached timers."""
    out = [f"{'ID':<15} {'PRIO':<4} {'STAGE':<18} {'DETECTED':<20} {'BREACHED':<20} TITLE"]
    for inc, breached in rows:
        detected = local_time(inc.detected_at, zone)
        out.append(f"{inc.id:<15} {inc.priority.value:<4} {inc.stage.value:<18} {detected:<20} "
                   f"{','.join(breached) or '-':<20} {inc.title}")  # fmt: skip
    return out


def timer_lines(ts: Sequence[Timer], zone: dt.tzinfo, indent: str = "") -> list[str]:
    out = []
    for t in ts:
        met = ""
        if t.met_at is not None:
            met = f"  (at {local_time(t.met_at, zone)}{', skipped' if t.skipped else ''})"
        out.append(f"{indent}{t.name:<20} due {local_time(t.due, zone)}  {t.state.value}{met}")
    return out


def past_lines(past: PastOccurrences, zone: dt.tzinfo) -> list[str]:
    """The occurrences found (whether the list is complete is the caller's to say)."""
    if not past.items:
        return ["  no past occurrences found"]
    return [
        f"  {p.kind} {p.ref} {local_time(p.when, zone) if p.when else '-'} "
        f"[{', '.join(p.matched)}] {p.summary}  {p.link}"
        for p in past.items
    ]


def countermeasure_line(c: Countermeasure, today: dt.date) -> str:
    late = " OVERDUE" if c.overdue(today) else ""
    return f"{c.id:>4} {c.incident_id} due {c.due} {c.state.value}{late} {c.owner}: {c.text}"


def incident_detail(
    inc: Incident,
    *,
    zone: dt.tzinfo,
    today: dt.date,
    timers: Sequence[Timer],
    messages: Sequence[CsirtMessage],
    review: Review | None,
    countermeasures: Sequence[Countermeasure],
    merged_from: Sequence[str],
) -> list[str]:
    """Everything about an incident: steps, timers, alerts, CSIRT reports, review,
    countermeasures."""
    out = incident_head(inc)
    if inc.description:
        out.append(f"  {inc.description}")
    if inc.merged_into:
        out.append(f"  merged into {inc.merged_into}")
    if merged_from:
        out.append(f"  merged from {', '.join(merged_from)}")
    out += [f"  alert {a.id}: {a.title} ({a.severity}, rule {a.rule})" for a in inc.alerts]
    out.append("steps:")
    for s in inc.steps:
        why = f"  reason: {s.reason}" if s.reason else ""
        note = f"  note: {s.note}" if s.note else ""
        out.append(f"  {s.seq:>3} {local_time(s.at, zone)} {s.kind.value:<9} "
                   f"{s.stage.value:<18} {s.actor}{why}{note}")  # fmt: skip
    out.append("timers:")
    out += timer_lines(timers, zone, indent="  ")
    out += [
        f"CSIRT #{m.number} {m.kind.value} {local_time(m.sent_at, zone)} {m.subject}"
        for m in messages
    ]
    if review is not None:
        state = "completed" if review.completed else "in progress"
        out.append(f"review ({state}): cause: {review.cause or '-'}; recurrence: "
                   f"{review.recurrence.value if review.recurrence else '-'}")  # fmt: skip
    for c in countermeasures:
        late = " OVERDUE" if c.overdue(today) else ""
        out.append(f"countermeasure {c.id}: {c.text} (owner {c.owner}, due {c.due}, "
                   f"{c.state.value}{late})")  # fmt: skip
    return out


# ---------------------------------------------------------------------------- tickets


def ticket_table(found: Sequence[Ticket]) -> list[str]:
    out = [f"{'ID':<15} {'PRIO':<4} {'STATUS':<12} {'CATEGORY':<9} {'REQUESTER':<16} SUBJECT"]
    for t in found:
        out.append(f"{t.id:<15} {t.priority.value:<4} {t.status.value:<12} "
                   f"{t.category.value:<9} {t.requester:<16} {t.subject}")  # fmt: skip
    return out


def _met(v: bool | None) -> str:
    return "pending" if v is None else ("met" if v else "missed")


def ticket_detail(t: Ticket, zone: dt.tzinfo, now: dt.datetime) -> list[str]:
    """A ticket, its targets (met, missed or pending at `now`), its comments and changes."""
    out = [
        f"{t.id}  [{t.priority.value}] {t.subject}",
        f"  {t.category.value}, {t.status.value}, requester {t.requester}, "
        f"assignee {t.assignee or '-'}",
    ]
    if t.description:
        out.append(f"  {t.description}")
    fr, rs = t.first_response_met(now), t.resolution_met(now)
    out.append(f"  first response due {local_time(t.first_response_due, zone)}: {_met(fr)}")
    out.append(f"  resolution due {local_time(t.resolution_due, zone)}: {_met(rs)}")
    for e in t.log:
        change = f"{e.from_status} -> {e.to_status} " if e.kind == "status" else ""
        out.append(f"  {local_time(e.at, zone)} {e.actor}: {change}{e.text}")
    return out


def _mins(v: float | None) -> str:
    return "-" if v is None else f"{v:.0f} min"


def ticket_stats_lines(stats: dict[str, Any]) -> list[str]:
    """The monthly figures of :func:`mamori.incidents.ticketstats.ticket_stats`."""
    out = [f"{stats['month']} ({stats['zone']}): {stats['opened']} opened"]
    for key in ("by_category", "by_priority", "by_status"):
        out.append(f"  {key[3:]}: " + ", ".join(f"{k} {v}" for k, v in stats[key].items()))
    for key in ("first_response", "resolution"):
        s = stats[key]
        pct = "-" if s["within_target_percent"] is None else f"{s['within_target_percent']}%"
        out.append(f"  {key}: {s['count']} measured, median {_mins(s['median_minutes'])}, "
                   f"p90 {_mins(s['p90_minutes'])}, within target {pct}")  # fmt: skip
    return out
