"""What follows a committed change of an incident: its audit events, the alert store told of
its alerts, a breach's report to the CSIRT, and the :class:`Outcome` that gathers them.

Each runs after the change was committed: a failure to record an audit event raises
:class:`~mamori.incidents.errors.AuditNotRecorded` (the change stands); a failure to link an
alert or to send the breach report is a problem in the outcome, said with what to do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mamori.errors import MamoriError
from mamori.incidents import linkage, trail
from mamori.incidents.model import (
    AlertId,
    CsirtMessage,
    Incident,
    IncidentId,
    ReportKind,
    Step,
    StepKind,
)
from mamori.incidents.store import IncidentStore


@dataclass(frozen=True, slots=True)
class Outcome:
    """An incident after a change, and what went wrong after the change was made.

    `problems` are things that failed once the change itself was committed and recorded
    (linking an alert in the alert store, the CSIRT report of a breach): the change stands,
    each problem says what to do.
    """

    incident: Incident
    message: CsirtMessage | None = None
    """The CSIRT report sent with the change (a breach's first report), if any."""
    problems: tuple[str, ...] = ()


_STEP_ACTIONS: dict[StepKind, str] = {
    StepKind.SKIPPED: "incident.skipped",
    StepKind.REACHED: "incident.stage",
    StepKind.REOPENED: "incident.reopened",
    StepKind.CLOSED: "incident.closed",
    StepKind.MERGED: "incident.closed",
    StepKind.DETECTED: "incident.stage",
}
"""The audit action of each kind of step."""


def record_steps(
    store: IncidentStore, before: Incident, steps: Sequence[Step], *, extra: dict[str, Any]
) -> None:
    """One audit event for each step just stored on `before` (as it was before them)."""
    for s in steps:
        trail.record(
            store.home,
            _STEP_ACTIONS[s.kind],
            {
                "incident": before.id,
                "seq": s.seq,
                "kind": s.kind.value,
                "stage": s.stage.value,
                "from": before.stage.value,
                "priority": before.priority.value,
                "note": s.note,
                "reason": s.reason,
                **extra,
            },
            actor=s.actor,
            at=s.at,
            done=f"{before.id}: {s.kind.value} {s.stage.value}",
        )


def link_alerts(
    store: IncidentStore,
    alert_ids: Sequence[AlertId],
    iid: IncidentId,
    actor: str,
    now: dt.datetime,
    replacing: IncidentId | None = None,
) -> tuple[str, ...]:
    """Tell the alert store that the alerts belong to `iid`; the failures, as problems."""
    problems: list[str] = []
    for aid in alert_ids:
        try:
            if replacing is None:
                linkage.link(store.home, aid, iid, actor, now)
            else:
                linkage.link(store.home, aid, iid, actor, now, replacing=replacing)
        except MamoriError as e:
            problems.append(
                f"alert {aid} is linked to {iid} here, but the alert store could not be told: "
                f"{e.message}"
            )
    return tuple(problems)


def breach_report(
    store: IncidentStore, iid: IncidentId, actor: str, now: dt.datetime
) -> tuple[CsirtMessage | None, tuple[str, ...]]:
    """LAW-4: report a breach to the CSIRT at once; a failure is returned, not raised."""
    from mamori.incidents.csirt import csirt_report

    kind = ReportKind.FOLLOWUP if store.messages(iid) else ReportKind.FIRST
    try:
        return csirt_report(store, iid, kind, "", actor=actor, now=now), ()
    except MamoriError as e:
        trail.record(
            store.home,
            "incident.csirt_sent",
            {"incident": iid, "kind": kind.value, "error": e.message},
            actor=actor,
            at=now,
            outcome="failure",
            done=f"the breach report of {iid} failed",
        )
        return None, (
            f"the breach report to the CSIRT was NOT sent: {e.diagnostics()}\n"
            f"  then send it: `mamori incidents csirt {iid} --kind {kind.value}` "
            "(its timer csirt_first_report is running)",
        )


_CHANGED: tuple[str, ...] = (
    "title", "description", "category", "urgency", "impact", "priority", "assignee",
    "occurred_at", "hosts", "users", "breach",
)  # fmt: skip
"""The fields whose changes an `incident.updated` or `incident.merged` event lists."""


def changes(old: Incident, new: Incident, *, detected: bool = False) -> dict[str, list[Any]]:
    """{field: [old, new]} of what differs (with `detected`, the detection time too)."""
    a, b = old.as_json(), new.as_json()
    keys = (*_CHANGED, "detected_at") if detected else _CHANGED
    return {k: [a[k], b[k]] for k in keys if a[k] != b[k]}
