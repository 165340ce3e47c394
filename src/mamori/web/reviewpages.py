"""The post-incident review page (FLT-2): cause, impact, likelihood of recurrence, past
occurrences, permanent countermeasures.

``GET /incidents/{id}/review`` needs ``incidents.read``; ``POST /incidents/{id}/review``,
``POST /incidents/{id}/countermeasures`` and ``POST …/countermeasures/{n}/done`` need
``incidents.manage`` and the session's CSRF token. Every change goes through
:mod:`mamori.incidents.review`, which records its audit event; a refusal is shown on the page
with what was typed kept (:func:`mamori.web.views.for_page`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Final

from fastapi import FastAPI, Path, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mamori.access.roles import Permission
from mamori.incidents.errors import NotFound
from mamori.incidents.model import Countermeasure, Level, PastOccurrences, Review, iso
from mamori.incidents.review import (
    add_countermeasure,
    complete_countermeasure,
    past_occurrences,
    save_review,
)
from mamori.incidents.service import get_incident
from mamori.incidents.store import IncidentStore
from mamori.web.auth import Console, Principal
from mamori.web.incidentsview import (
    IncidentIdParam,
    IncidentView,
    Manager,
    Reader,
    incident_view,
    now,
    run,
)
from mamori.web.pages import render
from mamori.web.views import (
    READ,
    BadForm,
    Refusal,
    choice,
    done_of,
    for_page,
    local_time,
    posted_form,
    read_for_page,
)

__all__ = ["register_review_pages"]

_DONE: Final = frozenset({"saved", "added", "done"})

Work = Callable[[IncidentStore, Mapping[str, str]], object]


def register_review_pages(app: FastAPI, console: Console) -> None:
    """Add the review page and its forms to `app`."""
    home = console.home

    async def review_view(
        request: Request,
        principal: Principal,
        incident_id: str,
        refusal: Refusal | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        at = now()

        def read(s: IncidentStore) -> tuple[IncidentView, PastOccurrences]:
            return incident_view(s, incident_id, at), past_occurrences(s, incident_id)

        found = await read_for_page(request, lambda: run(home, read))
        if isinstance(found, Response):
            return found
        view, past = found
        rv = view.review or Review(view.inc.id)
        values = form or {
            "cause": rv.cause,
            "impact": rv.impact,
            "recurrence": "" if rv.recurrence is None else rv.recurrence.value,
            "recurrence_reason": rv.recurrence_reason,
        }
        return render(
            request,
            "incident_review.html",
            status=200 if refusal is None else refusal.status,
            v=view,
            inc=view.inc,
            rv=rv,
            past=past,
            values=values,
            levels=[lv.value for lv in Level],
            can_manage=principal.allows(Permission.INCIDENTS_MANAGE),
            can_read_events=principal.allows(Permission.EVENTS_READ),
            refusal=refusal,
            done=done_of(request, _DONE) if refusal is None else None,
            when=lambda t: local_time(t, view.zone),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/incidents/{incident_id}/review",
        methods=READ,
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def incident_review_page(
        request: Request,
        principal: Reader,
        incident_id: IncidentIdParam,
    ) -> Response:
        return await review_view(request, principal, incident_id)

    async def review_change(
        request: Request,
        principal: Principal,
        incident_id: str,
        work: Work,
        done: str,
        *,
        keep_form: bool = False,
    ) -> Response:
        form = await posted_form(request, principal)

        async def refused(r: Refusal) -> Response:
            return await review_view(
                request, principal, incident_id, r, form if keep_form else None
            )

        result = await for_page(request, lambda: run(home, lambda s: work(s, form)), refused)
        if isinstance(result, Response):
            return result
        return RedirectResponse(
            f"/incidents/{incident_id.upper()}/review?done={done}", status_code=303
        )

    @app.post(
        "/incidents/{incident_id}/review", include_in_schema=False, response_class=HTMLResponse
    )
    async def incident_review_post(
        request: Request, principal: Manager, incident_id: IncidentIdParam
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Review:
            return save_review(
                s,
                incident_id,
                actor=principal.name,
                now=now(),
                cause=form.get("cause", ""),
                impact=form.get("impact", ""),
                recurrence=choice(Level, form.get("recurrence", "")),
                recurrence_reason=form.get("recurrence_reason", ""),
                complete="complete" in form,  # a checkbox: sent only when ticked
            )

        return await review_change(request, principal, incident_id, work, "saved", keep_form=True)

    @app.post(
        "/incidents/{incident_id}/countermeasures",
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def countermeasure_add(
        request: Request, principal: Manager, incident_id: IncidentIdParam
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Countermeasure:
            try:
                due = dt.date.fromisoformat(form.get("due", "").strip())
            except ValueError:
                raise BadForm("the due date is not a date (YYYY-MM-DD)") from None
            return add_countermeasure(
                s,
                incident_id,
                text=form.get("text", ""),
                owner=form.get("owner", ""),
                due=due,
                actor=principal.name,
                now=now(),
            )

        return await review_change(request, principal, incident_id, work, "added")

    @app.post(
        "/incidents/{incident_id}/countermeasures/{cm_id}/done",
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def countermeasure_done(
        request: Request,
        principal: Manager,
        incident_id: IncidentIdParam,
        cm_id: Annotated[int, Path(ge=1, le=2**62)],
    ) -> Response:
        def work(s: IncidentStore, form: Mapping[str, str]) -> Countermeasure:
            cm = s.countermeasure(cm_id)
            if cm.incident_id != get_incident(s, incident_id).id:
                raise NotFound(f"countermeasure {cm_id} is not one of {incident_id}")
            return complete_countermeasure(
                s, cm_id, actor=principal.name, now=now(), note=form.get("note", "")
            )

        return await review_change(request, principal, incident_id, work, "done")
