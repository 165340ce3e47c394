"""Incidents built as values, at any stage, for the pure workflow tests."""

from __future__ import annotations

import datetime as dt

from mamori.incidents.model import (
    BreachDetails,
    Category,
    Incident,
    IncidentId,
    Level,
    Priority,
    Stage,
    Step,
    StepKind,
)
from mamori.incidents.settings import DEFAULT_TARGETS
from tests.incidents.conftest import T0, minutes


def incident_at(
    stage: Stage,
    *,
    priority: Priority = Priority.P3,
    category: Category = Category.SECURITY,
    review_completed: bool = False,
    breach: BreachDetails | None = None,
    csirt_sent: tuple[dt.datetime, ...] = (),
) -> Incident:
    """An incident that went through every stage up to `stage`, one minute apart."""
    steps = [Step(1, StepKind.DETECTED, Stage.DETECTED, "op", T0)]
    order = [Stage.ISOLATED, Stage.VENDOR_CONTACTED, Stage.RECOVERY_CONFIRMED, Stage.REPORTED]
    for st in order:
        if stage.order < st.order:
            break
        steps.append(Step(len(steps) + 1, StepKind.REACHED, st, "op", T0 + minutes(len(steps))))
    if stage is Stage.CLOSED:
        steps.append(Step(len(steps) + 1, StepKind.CLOSED, Stage.CLOSED, "op", T0 + minutes(9)))
    return Incident(
        id=IncidentId("INC-2026-0001"),
        title="t",
        description="",
        category=category,
        urgency=Level.MEDIUM,
        impact=Level.MEDIUM,
        priority=priority,
        assignee=None,
        detected_at=T0,
        occurred_at=None,
        created_at=T0,
        created_by="op",
        stage=stage,
        steps=tuple(steps),
        targets=DEFAULT_TARGETS[priority],
        breach=breach,
        csirt_sent=csirt_sent,
        review_completed=review_completed,
    )
