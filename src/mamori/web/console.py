"""The console's signed-in side: sign-in, account setup (password, TOTP), sign-out, dashboard,
search, event detail, and the same data as JSON under ``/api/v1``.

Registered only when the application has a home (:attr:`mamori.web.app.WebContext.home`).
Blocking work (Argon2, SQLite, the search index) runs in a worker thread. See docs/console.md
for the flow and who sees what.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Annotated, Any, Final
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from mamori.access.errors import AccessError
from mamori.access.passwords import PasswordPolicyError
from mamori.access.roles import Permission
from mamori.access.sessions import COOKIE_NAME, CSRF_FIELD, Stage
from mamori.access.signin import Outcome, sign_in
from mamori.access.users import (
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
    get_user,
)
from mamori.ledger.errors import LedgerError
from mamori.ledger.search.query import QueryError
from mamori.web.alertsview import register_alerts
from mamori.web.auth import (
    Console,
    Principal,
    Redirect,
    check_csrf_of,
    form_of,
    principal_of,
    require,
    require_signed_in,
    setup_path,
)
from mamori.web.errors import HttpError
from mamori.web.incidentsapi import register_incidents_api
from mamori.web.incidentspages import register_incident_pages
from mamori.web.ledgerview import (
    FIELD_FILTERS,
    PAGE_MAX,
    event_view,
    run_search,
    since_us,
    status,
)
from mamori.web.openapi import BEARER_HEADERS, ErrorModel
from mamori.web.operations import register_operations
from mamori.web.opsview import event_rate, open_alerts, spool_state
from mamori.web.pages import error_page, landing_page, local_path, render
from mamori.web.reviewpages import register_review_pages
from mamori.web.ticketsapi import register_tickets_api
from mamori.web.ticketspages import register_ticket_pages
from mamori.web.vulnpages import register_vuln_pages

__all__ = ["register_console"]

_READ: Final = ["GET", "HEAD"]
_NAME_MAX: Final = 64
_PASSWORD_MAX: Final = 1024
_QUERY_MAX: Final = 2000
_DEFAULT_LIMIT: Final = 50
_FILTER_MAX: Final = 200

_API_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorModel, "description": "A parameter or the query cannot be understood."},
    401: {
        "model": ErrorModel,
        "description": "No session and no bearer token of scope `read`.",
        "headers": BEARER_HEADERS,
    },
    403: {"model": ErrorModel, "description": "The role (or the token's scope) does not allow it."},
}
_API_SECURITY: Final = {"security": [{"bearer": ["read"]}]}

SINCE_PATTERN = (
    r"^(\d{1,9}[smhdw]|\d{4}-\d{2}-\d{2}"
    r"([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:\d{2})?)?)?$"
)
"""What `since` may look like (the parser still checks the values: month 13 is a 400)."""


def _source(request: Request) -> str | None:
    return request.client.host if request.client else None


def _own_origin(request: Request) -> str | None:
    host = request.headers.get("host")
    return None if not host else f"https://{host}"


def _set_session_cookie(response: Response, token: str) -> None:
    # __Host-: Secure, Path=/, no Domain. Strict: never sent on a request from another site.
    response.set_cookie(COOKIE_NAME, token, path="/", secure=True, httponly=True, samesite="strict")


def _clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", secure=True, httponly=True, samesite="strict")


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


async def _on_redirect(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Redirect)
    return _see_other(exc.location)


def _check_origin(request: Request) -> None:
    """Login CSRF: the sign-in form is posted only from this server's own pages."""
    origin, own = request.headers.get("origin"), _own_origin(request)
    if origin is None or own is None or origin != own:
        raise StarletteHTTPException(403)


def register_console(app: FastAPI, console: Console) -> None:
    """Add the console's routes to `app` (before :func:`mamori.web.pages.register_pages`, so
    ``/`` is the dashboard for a signed-in person)."""
    app.state.console = console
    app.add_exception_handler(Redirect, _on_redirect)
    register_operations(app, console)
    register_alerts(app, console)
    register_ticket_pages(app, console)
    register_tickets_api(app, console)
    register_incident_pages(app, console)
    register_review_pages(app, console)
    register_incidents_api(app, console)
    register_vuln_pages(app, console)

    # --- home: the dashboard, or the landing page for a visitor -----------------------------

    @app.api_route("/", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        principal = principal_of(request)
        if principal is None or principal.via != "session":
            return landing_page(request)
        if principal.stage is Stage.SETUP:
            return _see_other(setup_path(principal))
        figures = rate = alerts = spool = None
        if principal.allows(Permission.OPS_STATUS):
            now_us = time.time_ns() // 1000
            try:
                figures = (await asyncio.to_thread(status, console.home)).as_json(now_us)
                rate = await asyncio.to_thread(event_rate, console.home, now_us)
                alerts = await asyncio.to_thread(open_alerts, console.home, now_us)
            except LedgerError:
                return error_page(request, 503)
            spool = spool_state(console.sink, console.metrics)
        return render(
            request,
            "dashboard.html",
            figures=figures,
            rate=rate,
            alerts=alerts,
            spool=spool,
            can_read=principal.allows(Permission.EVENTS_READ),
            can_search=principal.allows(Permission.EVENTS_SEARCH),
        )

    # --- signing in and out ------------------------------------------------------------------

    @app.api_route("/signin", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def signin_page(request: Request) -> Response:
        target = local_path(request.query_params.get("next"))
        principal = principal_of(request)
        if principal is not None and principal.via == "session":
            if principal.stage is Stage.SETUP:
                return _see_other(setup_path(principal))
            return _see_other(target)
        done = request.query_params.get("done")
        return render(request, "signin.html", next=target, done=done if done in _DONE else None)

    @app.post("/signin", include_in_schema=False, response_class=HTMLResponse)
    async def signin_post(request: Request) -> Response:
        _check_origin(request)
        form = await form_of(request)
        name = form.get("name", "").strip()[:_NAME_MAX]
        password = form.get("password", "")[:_PASSWORD_MAX]
        code = form.get("code", "").strip()[:16] or None
        target = local_path(form.get("next"))
        if not name or not password:
            return render(request, "signin.html", status=401, next=target, failed=True, name=name)
        try:
            result = await asyncio.to_thread(
                sign_in, console.home, name, password, code, source=_source(request)
            )
        except AccessError:
            return error_page(request, 503)
        stage = result.stage
        if stage is None:
            locked = result.outcome is Outcome.LOCKED or (
                result.locked_until is not None and result.locked_until > dt.datetime.now(dt.UTC)
            )
            return render(
                request,
                "signin.html",
                status=401,
                next=target,
                failed=not locked,
                locked=locked,
                name=name,
            )
        try:
            new = await asyncio.to_thread(console.sessions.create, result.name, stage=stage)
        except AccessError:
            return error_page(request, 503)
        if stage is Stage.FULL:
            location = target
        elif result.outcome is Outcome.TOTP_ENROLMENT_REQUIRED:
            location = "/account/totp"
        else:
            location = "/account/password"
        response = _see_other(location)
        _set_session_cookie(response, new.token)
        return response

    @app.post("/signout", include_in_schema=False)
    async def signout(
        request: Request, principal: Annotated[Principal, Depends(require_signed_in)]
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        if principal.session_token is not None:
            await asyncio.to_thread(console.sessions.revoke, principal.session_token)
        response = _see_other("/signin?done=signed_out")
        _clear_session_cookie(response)
        return response

    # --- account setup: password, TOTP --------------------------------------------------------

    @app.api_route(
        "/account/password", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def password_page(
        request: Request, principal: Annotated[Principal, Depends(require_signed_in)]
    ) -> Response:
        if principal.stage is Stage.SETUP and not principal.totp_enabled:
            return _see_other("/account/totp")
        return _password_form(request, principal)

    @app.post("/account/password", include_in_schema=False, response_class=HTMLResponse)
    async def password_post(
        request: Request, principal: Annotated[Principal, Depends(require_signed_in)]
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        if principal.stage is Stage.SETUP and not principal.totp_enabled:
            return _see_other("/account/totp")
        old = form.get("current", "")[:_PASSWORD_MAX]
        new = form.get("new", "")[:_PASSWORD_MAX]
        if new != form.get("confirm", "")[:_PASSWORD_MAX]:
            return _password_form(request, principal, status=400, problem="mismatch")
        try:
            await asyncio.to_thread(
                change_password, console.home, principal.name, old, new, source=_source(request)
            )
        except PasswordPolicyError:
            return _password_form(request, principal, status=400, problem="policy")
        except AccessError:
            problem = "wrong"
            try:
                if (await asyncio.to_thread(get_user, console.home, principal.name)).locked():
                    problem = "locked"
            except AccessError:
                problem = "locked"
            return _password_form(request, principal, status=400, problem=problem)
        # The access layer ended every session of the account: sign in again.
        response = _see_other("/signin?done=password")
        _clear_session_cookie(response)
        return response

    @app.api_route(
        "/account/totp", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def totp_page(
        request: Request, principal: Annotated[Principal, Depends(require_signed_in)]
    ) -> Response:
        if principal.totp_enabled:
            return _see_other("/account/password" if principal.stage is Stage.SETUP else "/")
        try:
            enrolment = await asyncio.to_thread(begin_totp_enrolment, console.home, principal.name)
        except AccessError:
            return error_page(request, 503)
        secret = enrolment.secret
        return render(
            request,
            "account_totp.html",
            # segno's SVG: paths only, no style attribute or element (CSP style-src).
            qr_svg=Markup(enrolment.qr_svg),  # noqa: S704 (made here from our own secret)
            secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
            failed=request.query_params.get("failed") == "1",
            csrf_field=CSRF_FIELD,
            csrf=principal.csrf,
        )

    @app.post("/account/totp", include_in_schema=False)
    async def totp_post(
        request: Request, principal: Annotated[Principal, Depends(require_signed_in)]
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        if principal.totp_enabled:
            return _see_other("/")
        code = form.get("code", "").strip()[:16]
        try:
            ok = await asyncio.to_thread(confirm_totp_enrolment, console.home, principal.name, code)
        except AccessError:
            return _see_other("/account/totp")
        if not ok:
            return _see_other("/account/totp?failed=1")
        # Enrolled: this setup session has done its part; sign in again with a code.
        if principal.session_token is not None:
            await asyncio.to_thread(console.sessions.revoke, principal.session_token)
        response = _see_other("/signin?done=totp")
        _clear_session_cookie(response)
        return response

    # --- search and events: pages --------------------------------------------------------------

    @app.api_route("/search", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def search_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.EVENTS_SEARCH))],
        q: Annotated[str, Query(max_length=_QUERY_MAX)] = "",
        since: Annotated[str, Query(max_length=100)] = "",
        until: Annotated[str, Query(max_length=100)] = "",
        host: Annotated[str, Query(max_length=_FILTER_MAX)] = "",
        user: Annotated[str, Query(max_length=_FILTER_MAX)] = "",
        action: Annotated[str, Query(max_length=_FILTER_MAX)] = "",
        outcome: Annotated[str, Query(max_length=_FILTER_MAX)] = "",
        src: Annotated[str, Query(max_length=_FILTER_MAX)] = "",
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = _DEFAULT_LIMIT,
    ) -> Response:
        given = {"host": host, "user": user, "action": action, "outcome": outcome, "src": src}
        filters = [(field, given[param].strip()) for param, field in FIELD_FILTERS]
        filters = [(field, value) for field, value in filters if value]
        problem: str | None = None
        page = None
        since_value: int | None = None
        until_value: int | None = None
        try:
            since_value = since_us(since) if since.strip() else None
        except QueryError:
            problem = "since"
        try:
            until_value = since_us(until) if until.strip() else None
        except QueryError:
            problem = problem or "until"
        if problem is None:
            try:
                page = await asyncio.to_thread(
                    run_search,
                    console.home,
                    q,
                    since=since_value,
                    until=until_value,
                    filters=filters,
                    before=before,
                    limit=limit,
                )
            except QueryError:
                problem = "query"
            except LedgerError:
                problem = "unavailable"
        kept = {"q": q, "since": since, "until": until, **given, "limit": str(limit)}
        return render(
            request,
            "search.html",
            status=200 if problem is None else 400,
            q=q,
            since=since,
            until=until,
            fields=given,
            limit=limit,
            page=page,
            paging=urlencode({k: v for k, v in kept.items() if v}),
            problem=problem,
            can_read=principal.allows(Permission.EVENTS_READ),
            wide=True,
        )

    @app.api_route(
        "/events/{index}", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def event_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.EVENTS_READ))],
        index: Annotated[int, Path(ge=0, le=2**62)],
    ) -> Response:
        try:
            view = await asyncio.to_thread(event_view, console.home, index)
        except LedgerError:
            return error_page(request, 503)
        if view is None:
            return error_page(request, 404)
        return render(request, "event.html", view=view, wide=True)

    # --- the same as JSON ----------------------------------------------------------------------

    @app.get(
        "/api/v1/status",
        summary="Ledger status",
        description="The ledger's size, its latest checkpoint and its age, and the last "
        "verification (`ledger.verified`). Needs `ops.status` (a session whose role has it, "
        "or a token of scope `read`).",
        responses=_API_RESPONSES,
        openapi_extra=_API_SECURITY,
    )
    async def api_status(
        principal: Annotated[Principal, Depends(require(Permission.OPS_STATUS))],
    ) -> dict[str, Any]:
        try:
            figures = await asyncio.to_thread(status, console.home)
        except LedgerError as e:
            raise HttpError(503, "the ledger cannot be read now", hint=e.message) from e
        return figures.as_json(time.time_ns() // 1000)

    @app.get(
        "/api/v1/search",
        summary="Search events",
        description="Events matching `q` (the query syntax of docs/search.md), newest first. "
        "Page with `before`: the `next_before` of the previous answer. Needs `events.search`.",
        responses=_API_RESPONSES,
        openapi_extra=_API_SECURITY,
    )
    async def api_search(
        principal: Annotated[Principal, Depends(require(Permission.EVENTS_SEARCH))],
        q: Annotated[str, Query(max_length=_QUERY_MAX, description="The query.")] = "",
        since: Annotated[
            str,
            Query(
                max_length=100,
                pattern=SINCE_PATTERN,
                description="Events at or after: RFC 3339, a date, or 15m/2h/7d.",
            ),
        ] = "",
        before: Annotated[
            int | None, Query(ge=1, le=2**62, description="Only events below this index.")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX, description="At most this many.")] = (
            _DEFAULT_LIMIT
        ),
    ) -> dict[str, Any]:
        try:
            since_value = since_us(since) if since else None
            page = await asyncio.to_thread(
                run_search, console.home, q, since=since_value, before=before, limit=limit
            )
        except QueryError as e:
            raise HttpError(400, e.message, hint=e.hint or "see docs/search.md") from e
        except LedgerError as e:
            raise HttpError(503, "the ledger cannot be searched now", hint=e.message) from e
        return {
            "hits": [row.as_json() for row in page.rows],
            "next_before": page.next_before,
        }

    @app.get(
        "/api/v1/events/{index}",
        summary="One event with its inclusion proof",
        description="The event at ledger index `index`: the ECS document, its raw message "
        "(`event.original`), and its inclusion proof against the latest checkpoint, checked by "
        "the server (`proof.verified`); check it yourself with ledger.pub. Needs `events.read`.",
        responses={
            **_API_RESPONSES,
            404: {"model": ErrorModel, "description": "No event at this index."},
        },
        openapi_extra=_API_SECURITY,
    )
    async def api_event(
        principal: Annotated[Principal, Depends(require(Permission.EVENTS_READ))],
        index: Annotated[int, Path(ge=0, le=2**62)],
    ) -> dict[str, Any]:
        try:
            view = await asyncio.to_thread(event_view, console.home, index)
        except LedgerError as e:
            raise HttpError(503, "the ledger cannot be read now", hint=e.message) from e
        if view is None:
            raise HttpError(404, f"there is no event at index {index}", hint="see /api/v1/search")
        return view.as_json()


_DONE: Final = frozenset({"password", "totp", "signed_out"})


def _password_form(
    request: Request, principal: Principal, *, status: int = 200, problem: str | None = None
) -> HTMLResponse:
    return render(
        request,
        "account_password.html",
        status=status,
        problem=problem,
        setup=principal.stage is Stage.SETUP,
        csrf_field=CSRF_FIELD,
        csrf=principal.csrf,
    )
