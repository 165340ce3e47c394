"""Reports to the agency's CSIRT (FLT-4, LAW-4): 第1報 (速報), 続報 (第2報, 第3報, …), 最終報告.

:func:`render_report` is pure: it fills the Japanese templates in `incidents/templates/` from
an incident and returns the subject and body. :func:`csirt_report` renders, sends through
:mod:`mamori.incidents.sending` to `[csirt] to` and `cc`, stores the message and records
`incident.csirt_sent` with the text as sent, so the ledger holds the shared timeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final, assert_never
from zoneinfo import ZoneInfo

import jinja2

from mamori.incidents import sending, trail
from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import (
    PRIORITY_SEVERITY,
    WORK_STAGES,
    Countermeasure,
    CountermeasureState,
    CsirtMessage,
    Incident,
    ReportKind,
    Review,
    Stage,
    StepKind,
    iso,
    jp_time,
)
from mamori.incidents.settings import CsirtConfig
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import stage_steps, timers

_ENV: Final = jinja2.Environment(
    loader=jinja2.PackageLoader("mamori.incidents", "templates"),
    autoescape=False,  # noqa: S701 - plain-text e-mail, never HTML
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

TIMER_STAGE: Final = {
    Stage.ISOLATED: "isolated",
    Stage.VENDOR_CONTACTED: "vendor_contacted",
    Stage.RECOVERY_CONFIRMED: "resolution",
    Stage.REPORTED: "reported",
}


def report_label(kind: ReportKind, number: int) -> str:
    match kind:
        case ReportKind.FIRST:
            return "第1報（速報）"
        case ReportKind.FOLLOWUP:
            return f"第{number}報（続報）"
        case ReportKind.FINAL:
            return f"最終報告（第{number}報）"
        case _:
            assert_never(kind)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def report_context(
    incident: Incident,
    kind: ReportKind,
    number: int,
    *,
    csirt: CsirtConfig,
    zone: ZoneInfo,
    now: dt.datetime,
    actor: str,
    extra_text: str = "",
    review: Review | None = None,
    countermeasures: Sequence[Countermeasure] = (),
    merged_from: Sequence[str] = (),
) -> dict[str, Any]:
    """The values the templates see (pure)."""

    def when(t: dt.datetime | None) -> str:
        return jp_time(t, zone)

    done = stage_steps(incident)
    dues = {t.name: t for t in timers(incident, now)}
    stages: list[dict[str, str]] = []
    upcoming: list[str] = []
    for st in WORK_STAGES:
        step = done.get(st)
        if step is not None and step.kind is StepKind.SKIPPED:
            status = f"省略（{when(step.at)}、理由: {_one_line(step.reason)}）"
        elif step is not None:
            status = f"完了 {when(step.at)}"
            if step.note and step.kind is not StepKind.DETECTED:
                status += f"（{_one_line(step.note)}）"
        else:
            due = dues[TIMER_STAGE[st]].due
            status = f"未了（目標 {when(due)}）"
            upcoming.append(f"{st.ja}: 目標 {when(due)}")
        stages.append({"label": st.ja, "status": status})
    if incident.stage is Stage.CLOSED:
        stages.append({"label": Stage.CLOSED.ja, "status": "完了"})
    open_cms = [c for c in countermeasures if c.state is CountermeasureState.OPEN]
    upcoming += [f"恒久対策: {_one_line(c.text)}（担当 {c.owner}、期限 {c.due:%Y年%m月%d日}）"
                 for c in open_cms]  # fmt: skip
    b = incident.breach
    return {
        "kind": kind.value,
        "number": number,
        "label": report_label(kind, number),
        "org": csirt.organisation or "貴組織",
        "contractor": csirt.contractor or "運用保守事業者",
        "contact": csirt.contact,
        "actor": actor,
        "written": when(now),
        "inc": {
            "id": incident.id,
            "title": _one_line(incident.title),
            "description": incident.description or "（調査中）",
            "priority": incident.priority.value,
            "urgency": incident.urgency.ja,
            "impact": incident.impact.ja,
            "category": incident.category.ja,
            "stage": incident.stage.ja,
            "assignee": incident.assignee or "",
        },
        "occurred": when(incident.occurred_at),
        "detected": when(incident.detected_at),
        "hosts": list(incident.hosts),
        "users": list(incident.users),
        "alerts": [
            f"{_one_line(a.title)}（重要度 {a.severity}、ルール {a.rule}）" for a in incident.alerts
        ],
        "merged_from": list(merged_from),
        "stages": stages,
        "upcoming": upcoming,
        "breach": None
        if b is None
        else {
            "what_happened": b.what_happened,
            "damage": b.damage,
            "containment": b.containment,
            "recovery": b.recovery,
            "persons_response": b.persons_response,
            "persons": "不明（調査中）"
            if b.persons_affected is None
            else f"{b.persons_affected}名",
            "data_items": "、".join(b.data_items),
            "recognised": when(b.recognised_at),
        },
        "review": None
        if review is None
        else {
            "cause": review.cause or "（調査中）",
            "impact": review.impact or "（調査中）",
            "recurrence": "未評価" if review.recurrence is None else review.recurrence.ja,
            "recurrence_reason": review.recurrence_reason,
            "past": [
                f"{p.ref} {jp_time(p.when, zone)} {_one_line(p.summary)}" for p in review.past.items
            ],
            "past_complete": review.past.complete,
        },
        "countermeasures": [
            {
                "text": _one_line(c.text),
                "owner": c.owner,
                "due": f"{c.due:%Y年%m月%d日}",
                "state": "完了" if c.state is CountermeasureState.DONE else "未完了",
            }
            for c in countermeasures
        ],
        "extra": extra_text.strip(),
    }


def render_report(context: dict[str, Any]) -> tuple[str, str]:
    """(subject, body) of a report from :func:`report_context`'s values (pure)."""
    try:
        subject = _ENV.get_template("subject.txt").render(context)
        body = _ENV.get_template(f"{context['kind']}.txt").render(context)
    except jinja2.TemplateError as e:  # a template shipped broken: a bug, said plainly
        raise IncidentsError(f"the CSIRT report template cannot be rendered: {e}") from e
    return _one_line(subject), body


def csirt_report(
    store: IncidentStore,
    incident_id: str,
    kind: ReportKind | str = ReportKind.FIRST,
    extra_text: str = "",
    *,
    actor: str,
    now: dt.datetime,
) -> CsirtMessage:
    """Render, send to `[csirt] to`/`cc`, store and record one report to the CSIRT.

    The first report is 第1報; every later one is numbered on (第2報, …), the final one too.
    Refused when no CSIRT address is configured, a first report was already sent, a follow-up
    or final report comes before the first, or a final report before recovery is confirmed.
    """
    try:
        kind = ReportKind(kind)
    except ValueError:
        raise IncidentsError(
            f"{kind!r} is not a kind of report", hint="use first, followup or final"
        ) from None
    actor = actor.strip()
    if not actor:
        raise IncidentsError("a report needs an actor", hint="pass --as NAME")
    if len(extra_text) > 20_000:
        raise IncidentsError("the extra text is too long", hint="keep it to 20,000 characters")
    cfg = store.config.csirt
    if not cfg.to:
        raise IncidentsError(
            "no CSIRT address is configured: [csirt] to is empty",
            hint=f'set to = ["csirt@…"] under [csirt] in {store.home.config_path}, then send '
            "the report again",
        )
    with store.transaction() as conn:
        inc = store.get(incident_id)
        if inc.merged_into is not None:
            raise IncidentsError(
                f"{inc.id} was merged into {inc.merged_into}",
                hint=f"report on {inc.merged_into} instead",
            )
        sent = store.messages(inc.id)
        _check_order(inc, kind, sent)
        number = len(sent) + 1
        context = report_context(
            inc,
            kind,
            number,
            csirt=cfg,
            zone=store.zone,
            now=now,
            actor=actor,
            extra_text=extra_text,
            review=store.review(inc.id),
            countermeasures=store.countermeasures(inc.id),
            merged_from=store.merged_from(inc.id),
        )
        subject, body = render_report(context)
        msg = CsirtMessage(inc.id, number, kind, subject, body, cfg.to, cfg.cc, now, actor)
        store.add_message(conn, msg)
        # Sent last in the transaction: a failure to queue it rolls the message back.
        sending.send_mail(
            store.home,
            cfg.to,
            subject,
            body,
            {
                "incident": inc.id,
                "number": number,
                "report": kind.value,
                "priority": inc.priority.value,
            },
            "csirt",
            cc=cfg.cc,
            severity=PRIORITY_SEVERITY[inc.priority],
        )
    trail.record(
        store.home,
        "incident.csirt_sent",
        {
            "incident": inc.id,
            "number": number,
            "kind": kind.value,
            "subject": subject,
            "body": body,
            "to": list(cfg.to),
            "cc": list(cfg.cc),
            "sent_at": iso(now),
        },
        actor=actor,
        at=now,
        done=f"report {number} of {inc.id} was sent to the CSIRT",
    )
    return msg


def _check_order(inc: Incident, kind: ReportKind, sent: Sequence[CsirtMessage]) -> None:
    match kind:
        case ReportKind.FIRST:
            if sent:
                raise IncidentsError(
                    f"the first report of {inc.id} was already sent ({sent[0].subject})",
                    hint=f"send a follow-up: `mamori incidents csirt {inc.id} --kind followup`",
                )
        case ReportKind.FOLLOWUP | ReportKind.FINAL:
            if not sent:
                raise IncidentsError(
                    f"no first report of {inc.id} was sent yet",
                    hint=f"send it first: `mamori incidents csirt {inc.id} --kind first`",
                )
            if kind is ReportKind.FINAL and inc.stage.order < Stage.RECOVERY_CONFIRMED.order:
                raise IncidentsError(
                    f"{inc.id} is at {inc.stage.value} ({inc.stage.ja}): the final report "
                    "comes after recovery is confirmed",
                    hint="send a follow-up now, the final report after recovery",
                )
