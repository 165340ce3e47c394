"""The incident pages (FLT-1…4, LAW-4): the list, a new incident, one incident and its forms.

``GET /incidents`` (filters stage, priority, category, open/closed) and ``GET
/incidents/{id}`` (the FLT-1 stages as a timeline, timers, alerts, CSIRT messages, breach
details) need ``incidents.read``; ``/incidents/new`` and every ``POST`` need
``incidents.manage`` and the session's CSRF token. Every change goes through
:mod:`mamori.incidents` (service, csirt), which records its audit event, with the console
account as actor. A change it refuses is shown on the page (409) with its English message
after a translated sentence (:func:`mamori.web.views.for_page`). The review (FLT-2) is
:mod:`mamori.web.reviewpages`, the JSON API :mod:`mamori.web.incidentsapi`; see
docs/console.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Final, Literal

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mamori.access.roles import Permission
from mamori.incidents.csirt import csirt_report
from mamori.incidents.model import (
    BreachDetails,
    Category,
    Incident,
    Level,
    Priority,
    ReportKind,
    Stage,
    iso,
)
from mamori.incidents.service import (
    Outcome,
    close_incident,
    create_incident,
    merge_incidents,
    reopen_incident,
    step_incident,
    update_incident,
)
from mamori.incidents.store import IncidentStore
from mamori.web.auth import Console, Principal
from mamori.web.incidentsview import (
    ALERT_IDS_MAX,
    INCIDENT_ID,
    LIST_MAX,
    CategoryParam,
    IncidentIdParam,
    Manager,
    PriorityParam,
    Reader,
    StageParam,
    StateParam,
    incident_view,
    list_rows,
    now,
    preview_report,
    run,
)
from mamori.web.pages import render
from mamori.web.views import (
    READ,
    BadForm,
    Failure,
    Refusal,
    choice,
    done_of,
    for_page,
    local_time,
    posted_form,
    read_for_page,
)

__all__ = ["breach_of", "register_incident_pages"]

_DONE: Final = frozenset(
    {"created", "stepped", "closed", "reopened", "updated", "merged", "sent", "breach"}
)
_SPLIT: Final = re.compile(r"[\s,、，;]+")


# --- reading forms ---------------------------------------------------------------------------


def _items(text: str) -> list[str]:
    """Values typed in one field, separated by commas (either width), spaces or line breaks."""
    return [v for v in _SPLIT.split(text) if v]


def breach_of(form: Mapping[str, str], at: dt.datetime) -> BreachDetails:
    """The LAW-4 fields of a form (:class:`~mamori.web.views.BadForm`: a count not a number)."""
    count_text = form.get("persons_affected", "").strip()
    count: int | None = None
    if count_text:
        if not count_text.isdecimal() or len(count_text) > 9:
            raise BadForm(f"the number of persons affected {count_text[:20]!r} is not a number")
        count = int(count_text)
    return BreachDetails(
        what_happened=form.get("what_happened", ""),
        damage=form.get("damage", ""),
        containment=form.get("containment", ""),
        recovery=form.get("recovery", ""),
        persons_response=form.get("persons_response", ""),
        persons_affected=count,
        data_items=tuple(d.strip() for d in re.split(r"[\n,、，]+", form.get("data_items", ""))),
        recognised_at=at,  # the service sets it
    )


def _create(s: IncidentStore, form: Mapping[str, str], actor: str) -> Outcome:
    """The new-incident form, read and sent to the service."""
    at = now()
    category = choice(Category, form.get("category", "")) or Category.SECURITY
    alert_ids = _items(form.get("alerts", ""))
    if len(alert_ids) > ALERT_IDS_MAX:
        raise BadForm(f"at most {ALERT_IDS_MAX} alerts at once")
    return create_incident(
        s,
        actor=actor,
        now=at,
        title=form.get("title", "").strip() or None,
        description=form.get("description", ""),
        category=category,
        alert_ids=alert_ids,
        urgency=choice(Level, form.get("urgency", "")),
        impact=choice(Level, form.get("impact", "")),
        assignee=form.get("assignee", "").strip() or None,
        breach=breach_of(form, at) if category is Category.BREACH else None,
    )


# --- the changes of POST /incidents/{id}/… (store, form, incident id, actor) ------------------

Change = Callable[[IncidentStore, Mapping[str, str], str, str], Outcome | Incident]


def _step(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
    stage = choice(Stage, form.get("stage", ""))
    if stage is None:
        raise BadForm("choose a stage")
    note, skip_reason = form.get("note", ""), form.get("skip_reason", "")
    return step_incident(s, iid, stage, actor=actor, now=now(), note=note, skip_reason=skip_reason)


def _close(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
    return close_incident(s, iid, actor=actor, now=now(), note=form.get("note", ""))


def _reopen(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Incident:
    reason, note = form.get("reason", ""), form.get("note", "")
    return reopen_incident(s, iid, reason=reason, actor=actor, now=now(), note=note)


def _update(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
    return update_incident(
        s,
        iid,
        actor=actor,
        now=now(),
        urgency=choice(Level, form.get("urgency", "")),
        impact=choice(Level, form.get("impact", "")),
        assignee=form.get("assignee", "").strip() or None,
        description=form.get("description", ""),
    )


def _breach(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
    at = now()
    return update_incident(s, iid, actor=actor, now=at, breach=breach_of(form, at))


def _merge(s: IncidentStore, form: Mapping[str, str], iid: str, actor: str) -> Outcome:
    into = form.get("into", "").strip()
    if not re.fullmatch(INCIDENT_ID, into):
        raise BadForm("choose the incident to merge this one into")
    return merge_incidents(s, into, iid, actor=actor, now=now(), note=form.get("note", ""))


_CHANGES: Final[Mapping[str, tuple[Change, str]]] = {
    "step": (_step, "stepped"),
    "close": (_close, "closed"),
    "reopen": (_reopen, "reopened"),
    "update": (_update, "updated"),
    "breach": (_breach, "breach"),
    "merge": (_merge, "merged"),
}
"""``POST /incidents/{id}/PATH``: the change, and the ``?done=`` of its 303."""


def register_incident_pages(app: FastAPI, console: Console) -> None:
    """Add the incident pages to `app`."""
    home = console.home

    @app.api_route("/incidents", methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def incidents_page(
        request: Request,
        principal: Reader,
        state: Annotated[StateParam, Query()] = "open",
        stage: Annotated[StageParam | Literal[""], Query()] = "",
        priority: Annotated[PriorityParam | Literal[""], Query()] = "",
        category: Annotated[CategoryParam | Literal[""], Query()] = "",
    ) -> Response:
        at = now()
        found = await read_for_page(
            request,
            lambda: run(
                home, lambda s: list_rows(s, state, stage, priority, category, LIST_MAX, at)
            ),
        )
        if isinstance(found, Response):
            return found
        rows, zone = found
        return render(
            request,
            "incidents.html",
            rows=rows,
            state=state,
            stage=stage,
            priority=priority,
            category=category,
            stages=[s.value for s in Stage],
            priorities=[p.value for p in Priority],
            categories=[c.value for c in Category],
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            when=lambda t: local_time(t, zone),
            iso=iso,
            wide=True,
        )

    # --- a new incident -----------------------------------------------------------------------

    def new_view(
        request: Request, form: Mapping[str, str], refusal: Refusal | None = None
    ) -> Response:
        return render(
            request,
            "incident_new.html",
            status=200 if refusal is None else refusal.status,
            form=form,
            categories=[c.value for c in Category],
            levels=[lv.value for lv in Level],
            refusal=refusal,
        )

    @app.api_route(
        "/incidents/new", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_new_page(
        request: Request,
        principal: Manager,
        alert: Annotated[list[int] | None, Query(max_length=ALERT_IDS_MAX)] = None,
    ) -> Response:
        return new_view(request, {"alerts": " ".join(str(a) for a in alert or ())})

    @app.post("/incidents/new", include_in_schema=False, response_class=HTMLResponse)
    async def incident_new_post(request: Request, principal: Manager) -> Response:
        form = await posted_form(request, principal)

        async def refused(r: Refusal) -> Response:
            # 500: it was opened; do not invite a second one with the form filled in
            return new_view(request, {} if r.failure is Failure.AUDIT else form, r)

        out = await for_page(
            request, lambda: run(home, lambda s: _create(s, form, principal.name)), refused
        )
        if isinstance(out, Response):
            return out
        return await after_change(request, principal, out, "created")

    # --- one incident -------------------------------------------------------------------------

    async def incident_page_view(
        request: Request,
        principal: Principal,
        incident_id: str,
        *,
        refusal: Refusal | None = None,
        problems: Sequence[str] = (),
        done: str | None = None,
        preview: tuple[str, str] | None = None,
        csirt_form: Mapping[str, str] | None = None,
    ) -> Response:
        at = now()
        view = await read_for_page(
            request, lambda: run(home, lambda s: incident_view(s, incident_id, at))
        )
        if isinstance(view, Response):
            return view
        if done is None and refusal is None and not problems:
            done = done_of(request, _DONE)
        default_kind = ReportKind.FOLLOWUP if view.messages else ReportKind.FIRST
        return render(
            request,
            "incident.html",
            status=200 if refusal is None else refusal.status,
            v=view,
            inc=view.inc,
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            can_read_alerts=principal.allows(Permission.ALERTS_READ),
            refusal=refusal,
            problems=list(problems),
            done=done,
            preview=preview,
            csirt_form=csirt_form or {"kind": default_kind.value},
            kinds=[k.value for k in ReportKind],
            levels=[lv.value for lv in Level],
            when=lambda t: local_time(t, view.zone),
            iso=iso,
            wide=True,
        )

    async def after_change(
        request: Request, principal: Principal, out: Outcome, done: str
    ) -> Response:
        """303 to the incident's page; its page at once when something failed after the change."""
        if out.problems:
            return await incident_page_view(
                request, principal, out.incident.id, problems=out.problems, done=done
            )
        return RedirectResponse(f"/incidents/{out.incident.id}?done={done}", status_code=303)

    @app.api_route(
        "/incidents/{incident_id}",
        methods=READ,
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def incident_page(
        request: Request, principal: Reader, incident_id: IncidentIdParam
    ) -> Response:
        return await incident_page_view(request, principal, incident_id)

    def change_route(path: str, change: Change, done: str) -> None:
        """``POST /incidents/{id}/PATH``: `change`, then a 303 with ``?done=DONE``."""

        async def route(
            request: Request, principal: Manager, incident_id: IncidentIdParam
        ) -> Response:
            form = await posted_form(request, principal)

            async def refused(r: Refusal) -> Response:
                return await incident_page_view(request, principal, incident_id, refusal=r)

            result = await for_page(
                request,
                lambda: run(home, lambda s: change(s, form, incident_id, principal.name)),
                refused,
            )
            if isinstance(result, Response):
                return result
            if isinstance(result, Outcome):
                return await after_change(request, principal, result, done)
            return RedirectResponse(f"/incidents/{result.id}?done={done}", status_code=303)

        app.post(
            f"/incidents/{{incident_id}}/{path}",
            include_in_schema=False,
            response_class=HTMLResponse,
            name=f"incident_{path}",
        )(route)

    for path, (change, done) in _CHANGES.items():
        change_route(path, change, done)

    @app.post(
        "/incidents/{incident_id}/csirt", include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_csirt(
        request: Request, principal: Manager, incident_id: IncidentIdParam
    ) -> Response:
        form = await posted_form(request, principal)
        kept = {"kind": form.get("kind", ""), "text": form.get("text", "")}

        async def refused(r: Refusal) -> Response:
            return await incident_page_view(
                request, principal, incident_id, refusal=r, csirt_form=kept
            )

        def work(s: IncidentStore) -> tuple[str, str] | None:
            kind = choice(ReportKind, kept["kind"]) or ReportKind.FIRST
            if "preview" in form:  # the preview button (no value: none to translate)
                return preview_report(s, incident_id, kind, kept["text"], principal.name)
            csirt_report(s, incident_id, kind, kept["text"], actor=principal.name, now=now())
            return None

        preview = await for_page(request, lambda: run(home, work), refused)
        if isinstance(preview, Response):
            return preview
        if preview is not None:
            return await incident_page_view(
                request, principal, incident_id, preview=preview, csirt_form=kept
            )
        return RedirectResponse(
            f"/incidents/{incident_id.upper()}?done=sent#csirt", status_code=303
        )
