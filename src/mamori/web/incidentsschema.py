"""The OpenAPI models of /api/v1/incidents (:mod:`mamori.web.incidentsapi`): what it answers
(:class:`IncidentModel` and its parts, as :func:`mamori.web.incidentsview.incident_json` builds
them from :meth:`mamori.incidents.model.Incident.as_json`) and the bodies it takes."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, Field

from mamori.incidents.model import ReportKind
from mamori.web.incidentsview import (
    ALERT_IDS_MAX,
    CategoryParam,
    LevelParam,
    PriorityParam,
    StageParam,
)

__all__ = [
    "AlertRefModel",
    "BreachModel",
    "BreachOutModel",
    "CountermeasureModel",
    "CsirtBody",
    "CsirtMessageModel",
    "IncidentChangeModel",
    "IncidentDetailModel",
    "IncidentListModel",
    "IncidentModel",
    "KindParam",
    "NewIncidentBody",
    "StepBody",
    "StepModel",
    "TargetsModel",
    "TimerModel",
]

StepParam = Literal["isolated", "vendor_contacted", "recovery_confirmed", "reported"]
KindParam = Literal["first", "followup", "final"]
assert set(get_args(KindParam)) == {k.value for k in ReportKind}


class StepModel(BaseModel):
    seq: int
    kind: Literal["detected", "reached", "skipped", "reopened", "closed", "merged"]
    stage: StageParam
    stage_ja: str = Field(description="The stage's name in FLT-1 (検知, 切り分け, …).")
    actor: str
    at: str = Field(description="When (RFC 3339, UTC).")
    note: str
    reason: str = Field(description="Why a stage was skipped, or the incident reopened/merged.")


class AlertRefModel(BaseModel):
    id: str
    rule: str
    title: str
    severity: str
    summary: str
    clauses: list[str]
    events: list[int] = Field(description="Ledger indices of its events.")
    group: list[list[str]] = Field(description="[field, value] pairs that identify it.")
    first_seen: str | None
    last_seen: str | None
    link: str = Field(description="Its page in the console.")


class BreachModel(BaseModel):
    """A personal-information breach (LAW-4)."""

    what_happened: str = Field(description="発生した事態.")
    damage: str = Field(description="被害の状況.")
    containment: str = Field(description="二次被害の防止策.")
    recovery: str = Field(description="復旧策.")
    persons_response: str = Field(description="本人への対応.")
    persons_affected: int | None = Field(description="本人の数; null while unknown.")
    data_items: list[str] = Field(description="The kinds of personal information concerned.")


class BreachOutModel(BreachModel):
    recognised_at: str = Field(description="When it was recognised as a breach.")


class TargetsModel(BaseModel):
    response_minutes: int
    isolated_minutes: int
    vendor_contacted_minutes: int
    resolution_minutes: int
    reported_minutes: int


class TimerModel(BaseModel):
    name: Literal[
        "response", "isolated", "vendor_contacted", "resolution", "reported", "csirt_first_report"
    ]
    label_ja: str
    due: str
    met_at: str | None
    state: Literal["pending", "met", "breached"]
    skipped: bool = Field(description="The stage was skipped with a reason, not reached.")


class IncidentModel(BaseModel):
    id: str = Field(description="`INC-YYYY-NNNN`.")
    title: str
    description: str
    category: CategoryParam
    urgency: LevelParam
    impact: LevelParam
    priority: PriorityParam
    assignee: str | None
    detected_at: str
    occurred_at: str | None
    created_at: str
    created_by: str
    stage: StageParam
    stage_ja: str
    steps: list[StepModel] = Field(description="Its history, oldest first.")
    alerts: list[AlertRefModel]
    rules: list[str]
    hosts: list[str]
    users: list[str]
    breach: BreachOutModel | None = Field(description="LAW-4 details of a breach.")
    merged_into: str | None
    csirt_sent: list[str] = Field(description="When each CSIRT report was sent.")
    review_completed: bool
    needs_review: bool = Field(description="P1/P2 and breaches close after a completed review.")
    targets: TargetsModel = Field(description="Minutes from detection to each due time.")
    timers: list[TimerModel]
    breached: list[str] = Field(description="The names of the timers breached.")
    path: str = Field(description="Its page in the console.")


class IncidentListModel(BaseModel):
    incidents: list[IncidentModel] = Field(description="Newest detection first.")


class CsirtMessageModel(BaseModel):
    incident: str
    number: int = Field(description="1 for the first report (第1報), then 2, 3, …")
    kind: KindParam
    subject: str
    body: str
    to: list[str]
    cc: list[str]
    sent_at: str
    actor: str


class CountermeasureModel(BaseModel):
    id: int
    incident: str
    text: str
    owner: str
    due: str = Field(description="YYYY-MM-DD.")
    state: Literal["open", "done"]
    created_at: str
    created_by: str
    done_at: str | None
    done_by: str | None
    note: str
    overdue: bool


class IncidentDetailModel(IncidentModel):
    csirt_messages: list[CsirtMessageModel]
    merged_from: list[str] = Field(description="Incidents merged into this one.")
    countermeasures: list[CountermeasureModel]


class IncidentChangeModel(IncidentDetailModel):
    problems: list[str] = Field(
        description="What failed after the change was made (an alert not told, a breach "
        "report not sent): the change stands; each says what to do."
    )


class NewIncidentBody(BaseModel):
    title: str | None = Field(None, max_length=200, description="Default: the alert's.")
    description: str = Field("", max_length=20_000)
    category: CategoryParam = "security"
    alerts: list[str] = Field(
        default_factory=list, max_length=ALERT_IDS_MAX, description="Alert ids to open it from."
    )
    urgency: LevelParam | None = Field(None, description="Default: from the alerts' severity.")
    impact: LevelParam | None = Field(None, description="Default: from the alerts' severity.")
    assignee: str | None = Field(None, max_length=200)
    hosts: list[str] = Field(default_factory=list, max_length=100)
    users: list[str] = Field(default_factory=list, max_length=100)
    breach: BreachModel | None = Field(
        None, description="Required for `category: breach`; its first report goes at once."
    )


class StepBody(BaseModel):
    action: Literal["step", "close", "reopen"] = Field(
        "step", description="Forward to `stage`, close (after `reported`), or reopen."
    )
    stage: StepParam | None = Field(None, description="The stage reached (for `step`).")
    note: str = Field("", max_length=20_000)
    reason: str = Field(
        "",
        max_length=20_000,
        description="Why the stages passed over are skipped (a step over stages), or why it is "
        "reopened (required then).",
    )


class CsirtBody(BaseModel):
    kind: KindParam = Field(description="第1報 (first), 続報 (followup) or 最終報告 (final).")
    text: str = Field("", max_length=20_000, description="Extra text for the report (補足).")
