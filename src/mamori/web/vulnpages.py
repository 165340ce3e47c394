"""The vulnerability pages (SEC-2, SEC-3, CLD-9): systems and their inventories, findings with
their decision history, the end-of-life calendar.

``GET /vuln``, ``/vuln/systems/{system}``, ``/vuln/findings``,
``/vuln/findings/{system}/{ecosystem}/{name}/{vuln}`` and ``/vuln/eol`` need ``vuln.read``;
``POST …/{vuln}/triage`` and ``POST …/{vuln}/fixed`` need ``vuln.manage`` and the session's
CSRF token, and call :func:`mamori.vuln.decisionstore.triage` and
:func:`~mamori.vuln.decisionstore.mark_fixed` with the signed-in account as actor. A decision the
store refuses is shown on the page (409; 400 for a form value outside its choices) with its
English message after a translated sentence. What the pages read is :mod:`mamori.web.vulnview`;
see docs/console.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Final, Literal, TypeVar, get_args

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mamori.access.roles import Permission
from mamori.incidents.model import iso
from mamori.vuln import decisionstore
from mamori.vuln.decisions import (
    SEVERITIES,
    Justification,
    Key,
    Kind,
    Record,
    State,
    allowed,
)
from mamori.vuln.eolmap import Status as EolStatus
from mamori.vuln.errors import VulnError
from mamori.web.auth import Console, Principal, require
from mamori.web.pages import error_page, render
from mamori.web.views import (
    READ,
    BadForm,
    Failure,
    Refusal,
    choice,
    done_of,
    local_time,
    posted_form,
)
from mamori.web.vulnview import (
    NO_ECOSYSTEM,
    NotFound,
    calendar,
    check_system,
    db_state,
    eol_state,
    finding_path,
    list_findings,
    one_finding,
    one_system,
    settings,
    system_rows,
)

__all__ = ["register_vuln_pages"]

T = TypeVar("T")

Reader = Annotated[Principal, Depends(require(Permission.VULN_READ))]
Manager = Annotated[Principal, Depends(require(Permission.VULN_MANAGE))]
StateParam = Literal[
    "", "open", "overdue", "detected", "under_investigation", "not_affected", "affected",
    "fixed", "verified",
]  # fmt: skip
SeverityParam = Literal["", "critical", "high", "medium", "low", "none", "unknown"]
FINDING: Final = "/vuln/findings/{system}/{ecosystem}/{name:path}/{vuln}"
_DONE: Final = frozenset({"triaged", "fixed"})
_TRIAGE: Final = (State.UNDER_INVESTIGATION, State.NOT_AFFECTED, State.AFFECTED)
assert set(get_args(SeverityParam)) - {""} == set(SEVERITIES)
assert {s.value for s in State} < set(get_args(StateParam))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _read(request: Request, work: Callable[[], T]) -> T | Response:
    """`work()` in a worker thread; the 404 page for :class:`NotFound`, and for any other
    :class:`VulnError` a 503 page that says what is wrong (never a traceback)."""
    try:
        return await asyncio.to_thread(work)
    except NotFound:
        return error_page(request, 404)
    except VulnError as e:
        return render(request, "vuln_problem.html", status=503, message=e.message, hint=e.hint)


def triage_of(form: Mapping[str, str]) -> tuple[State, Justification | None, str, str]:
    """The triage form: status, justification (kept only for not_affected), statement, note
    (the statement, the justification or the status when left empty, as the CLI does)."""
    status = choice(State, form.get("status", ""))
    if status not in _TRIAGE:
        raise BadForm("choose under_investigation, not_affected or affected")
    justification = choice(Justification, form.get("justification", ""))
    if status is not State.NOT_AFFECTED:
        justification = None
    statement = form.get("statement", "").strip()
    note = form.get("note", "").strip() or statement or (justification or status).value
    return status, justification, statement, note


def fix_of(form: Mapping[str, str], who: str) -> tuple[str, dt.date, str, str]:
    """The fix form: version, date, approver (default: the signed-in account), note."""
    try:
        day = dt.date.fromisoformat(form.get("date", "").strip())
    except ValueError:
        raise BadForm("the date is not YYYY-MM-DD") from None
    approver = form.get("approver", "").strip() or who
    return form.get("version", "").strip(), day, approver, form.get("note", "").strip()


def register_vuln_pages(app: FastAPI, console: Console) -> None:
    """Add the vulnerability pages to `app`."""
    home = console.home

    @app.api_route("/vuln", methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def vuln_page(request: Request, principal: Reader) -> Response:
        def work() -> dict[str, Any]:
            cfg, tz = settings(home)
            today = now().astimezone(tz).date()
            eol_info, _ = eol_state(home)
            return {
                "rows": system_rows(home, today),
                "db": db_state(home, cfg.max_db_age_days),
                "eol": eol_info,
                "tz": tz,
            }

        found = await _read(request, work)
        if isinstance(found, Response):
            return found
        tz = found.pop("tz")
        return render(
            request,
            "vuln.html",
            **found,
            severities=SEVERITIES,
            when=lambda t: local_time(t, tz),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/vuln/systems/{system}",
        methods=READ,
        include_in_schema=False,
        response_class=HTMLResponse,
    )
    async def system_page(
        request: Request,
        principal: Reader,
        system: str,
        at: Annotated[str, Query(max_length=32)] = "",
        ecosystem: Annotated[str, Query(max_length=64)] = "",
        name: Annotated[str, Query(max_length=200)] = "",
        page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> Response:
        def work() -> tuple[Any, Any]:
            _, tz = settings(home)
            return one_system(home, system, at, ecosystem, name, page), tz

        found = await _read(request, work)
        if isinstance(found, Response):
            return found
        view, tz = found
        return render(
            request,
            "vuln_system.html",
            system=system,
            v=view,
            ecosystem=ecosystem,
            name=name,
            page=min(page, view.pages),
            no_ecosystem=NO_ECOSYSTEM,
            when=lambda t: local_time(t, tz),
            iso=iso,
            wide=True,
        )

    @app.api_route(
        "/vuln/findings", methods=READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def findings_page(
        request: Request,
        principal: Reader,
        system: Annotated[str, Query(max_length=128)] = "",
        state: Annotated[StateParam, Query()] = "",
        severity: Annotated[SeverityParam, Query()] = "",
    ) -> Response:
        def work() -> tuple[list[Record], dt.date]:
            _, tz = settings(home)
            today = now().astimezone(tz).date()
            return list_findings(home, system, state, severity, today), today

        found = await _read(request, work)
        if isinstance(found, Response):
            return found
        rows, today = found
        return render(
            request,
            "vuln_findings.html",
            rows=rows,
            system=system,
            state=state,
            severity=severity,
            states=[s.value for s in State],
            severities=SEVERITIES,
            today=today,
            path_of=finding_path,
            wide=True,
        )

    async def finding_view(
        request: Request,
        principal: Principal,
        system: str,
        key: Key,
        refusal: Refusal | None = None,
        form: Mapping[str, str] | None = None,
    ) -> Response:
        def work() -> tuple[Any, ...]:
            _, tz = settings(home)
            return (*one_finding(home, system, key), tz)

        found = await _read(request, work)
        if isinstance(found, Response):
            return found
        record, history, tz = found
        today = now().astimezone(tz).date()
        return render(
            request,
            "vuln_finding.html",
            status=200 if refusal is None else refusal.status,
            r=record,
            history=history,
            overdue=record.overdue(today),
            path=finding_path(record),
            can_manage=principal.allows(Permission.VULN_MANAGE),
            triage_to=[s.value for s in _TRIAGE if allowed(Kind.TRIAGE, record.state, s)],
            can_fix=allowed(Kind.TRIAGE, record.state, State.FIXED),
            justifications=[j.value for j in Justification],
            today=today.isoformat(),
            form=form or {},
            refusal=refusal,
            done=done_of(request, _DONE) if refusal is None else None,
            when=lambda t: local_time(t, tz),
            iso=iso,
            wide=True,
        )

    @app.api_route(FINDING, methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def finding_page(
        request: Request, principal: Reader, system: str, ecosystem: str, name: str, vuln: str
    ) -> Response:
        return await finding_view(request, principal, system, (ecosystem, name, vuln))

    async def decide(
        request: Request,
        principal: Principal,
        system: str,
        key: Key,
        work: Callable[[Mapping[str, str]], Record],
        done: str,
    ) -> Response:
        form = await posted_form(request, principal)

        def checked() -> Record:
            one_finding(home, system, key)  # NotFound before any decision
            return work(form)

        try:
            record = await asyncio.to_thread(checked)
        except NotFound:
            return error_page(request, 404)
        except BadForm as e:
            refusal = Refusal.invalid(e.message)
            return await finding_view(request, principal, system, key, refusal, form)
        except VulnError as e:
            refusal = Refusal(Failure.REFUSED, e.message, e.hint)
            return await finding_view(request, principal, system, key, refusal, form)
        return RedirectResponse(f"{finding_path(record)}?done={done}", status_code=303)

    @app.post(FINDING + "/triage", include_in_schema=False, response_class=HTMLResponse)
    async def triage_post(
        request: Request, principal: Manager, system: str, ecosystem: str, name: str, vuln: str
    ) -> Response:
        key = (ecosystem, name, vuln)

        def work(form: Mapping[str, str]) -> Record:
            status, justification, statement, note = triage_of(form)
            return decisionstore.triage(
                home, system, key, status, actor=principal.name, note=note,
                justification=justification, statement=statement,
            )  # fmt: skip

        return await decide(request, principal, system, key, work, "triaged")

    @app.post(FINDING + "/fixed", include_in_schema=False, response_class=HTMLResponse)
    async def fixed_post(
        request: Request, principal: Manager, system: str, ecosystem: str, name: str, vuln: str
    ) -> Response:
        key = (ecosystem, name, vuln)

        def work(form: Mapping[str, str]) -> Record:
            version, day, approver, note = fix_of(form, principal.name)
            return decisionstore.mark_fixed(
                home, system, key, version=version, date=day, approver=approver,
                actor=principal.name, note=note,
            )  # fmt: skip

        return await decide(request, principal, system, key, work, "fixed")

    @app.api_route("/vuln/eol", methods=READ, include_in_schema=False, response_class=HTMLResponse)
    async def eol_page(
        request: Request,
        principal: Reader,
        system: Annotated[str, Query(max_length=128)] = "",
    ) -> Response:
        def work() -> dict[str, Any]:
            cfg, tz = settings(home)
            today = now().astimezone(tz).date()
            info, cat = eol_state(home)
            if system:
                check_system(home, system)
            cal = None if cat is None else calendar(home, cat, today, cfg.eol_warn_days, system)
            return {"info": info, "cal": cal, "today": today, "warn_days": cfg.eol_warn_days}

        found = await _read(request, work)
        if isinstance(found, Response):
            return found
        return render(
            request,
            "vuln_eol.html",
            **found,
            system=system,
            statuses=[s.value for s in EolStatus],
            wide=True,
        )
