"""The console's operations and administration pages: the ledger (checkpoint history, witness
state, a verification run), the audit trail of mamori's own actions, and the accounts,
devices and API tokens.

Each route needs the permission of :mod:`mamori.access.roles` that docs/console.md names; each
state-changing ``POST`` also needs the session's CSRF token. Changes go through the access
layer (:mod:`mamori.access`), which records the audit events of accounts and roles; the token
and device changes record theirs here, as the CLI does, with the console account as ``actor``.
A change the access layer refuses is shown on the page (400), never a 500. A one-time
password or a new token is shown once, in the answer to the ``POST`` that made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from mamori import audit
from mamori.access.devices import add_device, list_devices, revoke_device
from mamori.access.errors import AccessError
from mamori.access.roles import Permission, Role
from mamori.access.tokens import (
    DEFAULT_EXPIRY_DAYS,
    MAX_EXPIRY_DAYS,
    SCOPES,
    add_token,
    list_tokens,
    revoke_token,
)
from mamori.access.users import add_user, disable_user, list_users, reset_user, set_role
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.ledger.errors import LedgerError
from mamori.web.auth import Console, Principal, check_csrf_of, form_of, require
from mamori.web.opsview import (
    AUDIT_PAGE,
    CHECKPOINT_PAGE,
    audit_trail,
    checkpoint_history,
    valid_filter,
)
from mamori.web.pages import error_page, render
from mamori.web.verifyrun import VerifyRunner

__all__ = ["register_operations"]

_READ: Final = ["GET", "HEAD"]
_FIELD_MAX: Final = 256
_PEM_MAX: Final = 12 * 1024
_DONE: Final = frozenset({"disabled", "role", "revoked", "added"})


def _see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def _field(form: Mapping[str, str], name: str, limit: int = _FIELD_MAX) -> str:
    return form.get(name, "").strip()[:limit]


def _done(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in _DONE else None


def register_operations(app: FastAPI, console: Console) -> None:
    """Add the ledger, audit and administration pages to `app`."""
    runner = VerifyRunner(console.home)
    app.state.verify_runner = runner
    home = console.home

    # --- the ledger -------------------------------------------------------------------------

    @app.api_route("/ledger", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def ledger_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.LEDGER_READ))],
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Response:
        try:
            page = await asyncio.to_thread(checkpoint_history, home, before, CHECKPOINT_PAGE)
        except LedgerError:
            return error_page(request, 503)
        return render(
            request,
            "ledger.html",
            page=page,
            can_verify=principal.allows(Permission.LEDGER_VERIFY),
            run=runner.current(),
            busy=False,
            wide=True,
        )

    @app.post("/ledger/verify", include_in_schema=False, response_class=HTMLResponse)
    async def ledger_verify(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.LEDGER_VERIFY))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        started = runner.start(principal.name)
        if request.headers.get("hx-request") == "true":
            return render(request, "verify_status.html", run=runner.current(), busy=not started)
        return _see_other("/ledger#verification")

    @app.api_route(
        "/ledger/verify/status", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def ledger_verify_status(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.LEDGER_VERIFY))],
    ) -> Response:
        return render(request, "verify_status.html", run=runner.current(), busy=False)

    # --- the audit trail --------------------------------------------------------------------

    @app.api_route("/audit", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def audit_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.AUDIT_READ))],
        action: Annotated[str, Query(max_length=64)] = "",
        user: Annotated[str, Query(max_length=64)] = "",
        before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    ) -> Response:
        action, user = action.strip(), user.strip()
        problem: str | None = None
        page = None
        if (action and not valid_filter(action)) or (user and not valid_filter(user)):
            problem = "filter"
        else:
            try:
                page = await asyncio.to_thread(
                    audit_trail, home, action=action, user=user, before=before, limit=AUDIT_PAGE
                )
            except LedgerError:
                problem = "unavailable"
        return render(
            request,
            "audit.html",
            status=200 if problem is None else 400,
            action=action,
            user=user,
            page=page,
            problem=problem,
            can_read=principal.allows(Permission.EVENTS_READ),
            wide=True,
        )

    # --- accounts ---------------------------------------------------------------------------

    async def users_view(
        request: Request,
        principal: Principal,
        *,
        status: int = 200,
        refused: str | None = None,
        secret: tuple[str, str] | None = None,
    ) -> Response:
        try:
            users = await asyncio.to_thread(list_users, home)
        except AccessError:
            return error_page(request, 503)
        return render(
            request,
            "admin_users.html",
            status=status,
            users=users,
            roles=[r.value for r in Role],
            can_manage=principal.allows(Permission.USERS_MANAGE),
            can_grant=principal.allows(Permission.ROLES_GRANT),
            refused=refused,
            secret=secret,
            done=_done(request) if status == 200 and secret is None else None,
            wide=True,
        )

    @app.api_route(
        "/admin/users", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def users_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.USERS_READ))],
    ) -> Response:
        return await users_view(request, principal)

    @app.post("/admin/users/add", include_in_schema=False, response_class=HTMLResponse)
    async def users_add(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.USERS_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name, role = _field(form, "name", 64), _field(form, "role", 16)
        try:
            password = await asyncio.to_thread(add_user, home, name, role, actor=principal.name)
        except AccessError as e:
            return await users_view(request, principal, status=400, refused=e.message)
        return await users_view(request, principal, secret=(name, password))

    @app.post("/admin/users/reset", include_in_schema=False, response_class=HTMLResponse)
    async def users_reset(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.USERS_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name = _field(form, "name", 64)
        try:
            password = await asyncio.to_thread(reset_user, home, name, actor=principal.name)
        except AccessError as e:
            return await users_view(request, principal, status=400, refused=e.message)
        return await users_view(request, principal, secret=(name, password))

    @app.post("/admin/users/disable", include_in_schema=False, response_class=HTMLResponse)
    async def users_disable(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.USERS_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name = _field(form, "name", 64)
        try:
            await asyncio.to_thread(disable_user, home, name, actor=principal.name)
        except AccessError as e:
            return await users_view(request, principal, status=400, refused=e.message)
        return _see_other("/admin/users?done=disabled")

    @app.post("/admin/users/role", include_in_schema=False, response_class=HTMLResponse)
    async def users_role(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.ROLES_GRANT))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name, role = _field(form, "name", 64), _field(form, "role", 16)
        try:
            await asyncio.to_thread(set_role, home, name, role, actor=principal.name)
        except AccessError as e:
            return await users_view(request, principal, status=400, refused=e.message)
        return _see_other("/admin/users?done=role")

    # --- devices ----------------------------------------------------------------------------

    async def devices_view(
        request: Request, principal: Principal, *, status: int = 200, refused: str | None = None
    ) -> Response:
        try:
            devices = await asyncio.to_thread(list_devices, home)
        except AccessError:
            return error_page(request, 503)
        return render(
            request,
            "admin_devices.html",
            status=status,
            devices=devices,
            can_manage=principal.allows(Permission.DEVICES_MANAGE),
            refused=refused,
            done=_done(request) if status == 200 else None,
            wide=True,
        )

    @app.api_route(
        "/admin/devices", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def devices_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.DEVICES_READ))],
    ) -> Response:
        return await devices_view(request, principal)

    @app.post("/admin/devices/add", include_in_schema=False, response_class=HTMLResponse)
    async def devices_add(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.DEVICES_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name = _field(form, "name", 64)
        address = _field(form, "address") or None
        fingerprint = _field(form, "fingerprint", 200) or None
        pem_text = form.get("certificate", "").strip()[:_PEM_MAX]
        pem = pem_text.encode("utf-8") if pem_text else None
        try:
            device = await asyncio.to_thread(
                add_device, home, name, address=address, cert_pem=pem, fingerprint=fingerprint
            )
        except (AccessError, UnicodeError, ValueError) as e:
            message = e.message if isinstance(e, AccessError) else str(e)[:300]
            return await devices_view(request, principal, status=400, refused=message)
        fields = {"name": device.name, "address": device.address, "fingerprint": device.fingerprint}
        refused = await _record(home, "device.added", fields, principal.name)
        if refused is not None:
            return await devices_view(request, principal, status=400, refused=refused)
        return _see_other("/admin/devices?done=added")

    @app.post("/admin/devices/revoke", include_in_schema=False, response_class=HTMLResponse)
    async def devices_revoke(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.DEVICES_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name = _field(form, "name", 64)
        try:
            device = await asyncio.to_thread(revoke_device, home, name)
        except AccessError as e:
            return await devices_view(request, principal, status=400, refused=e.message)
        fields = {"name": device.name, "address": device.address, "fingerprint": device.fingerprint}
        refused = await _record(home, "device.revoked", fields, principal.name)
        if refused is not None:
            return await devices_view(request, principal, status=400, refused=refused)
        return _see_other("/admin/devices?done=revoked")

    # --- tokens -----------------------------------------------------------------------------

    async def tokens_view(
        request: Request,
        principal: Principal,
        *,
        status: int = 200,
        refused: str | None = None,
        secret: tuple[str, str] | None = None,
    ) -> Response:
        try:
            tokens = await asyncio.to_thread(list_tokens, home)
        except AccessError:
            return error_page(request, 503)
        return render(
            request,
            "admin_tokens.html",
            status=status,
            tokens=tokens,
            scopes=list(SCOPES),
            default_days=DEFAULT_EXPIRY_DAYS,
            max_days=MAX_EXPIRY_DAYS,
            can_manage=principal.allows(Permission.TOKENS_MANAGE),
            refused=refused,
            secret=secret,
            done=_done(request) if status == 200 and secret is None else None,
            wide=True,
        )

    @app.api_route(
        "/admin/tokens", methods=_READ, include_in_schema=False, response_class=HTMLResponse
    )
    async def tokens_page(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TOKENS_READ))],
    ) -> Response:
        return await tokens_view(request, principal)

    @app.post("/admin/tokens/add", include_in_schema=False, response_class=HTMLResponse)
    async def tokens_add(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name, scope = _field(form, "name", 64), _field(form, "scope", 16)
        days: int | None
        if form.get("no_expiry"):
            days = None
        else:
            text = _field(form, "expires_days", 8) or str(DEFAULT_EXPIRY_DAYS)
            if not text.isdigit():
                return await tokens_view(request, principal, status=400, refused=text)
            days = int(text)
        try:
            token = await asyncio.to_thread(add_token, home, name, scope, expires_days=days)
        except AccessError as e:
            return await tokens_view(request, principal, status=400, refused=e.message)
        refused = await _record(
            home,
            "token.created",
            {"name": name, "scope": scope, "expires_days": days, "never_expires": days is None},
            principal.name,
        )
        if refused is not None:  # the token exists but was not noted: say so, show it once
            return await tokens_view(request, principal, refused=refused, secret=(name, token))
        return await tokens_view(request, principal, secret=(name, token))

    @app.post("/admin/tokens/revoke", include_in_schema=False, response_class=HTMLResponse)
    async def tokens_revoke(
        request: Request,
        principal: Annotated[Principal, Depends(require(Permission.TOKENS_MANAGE))],
    ) -> Response:
        form = await form_of(request)
        check_csrf_of(request, principal, form)
        name = _field(form, "name", 64)
        try:
            record = await asyncio.to_thread(revoke_token, home, name)
        except AccessError as e:
            return await tokens_view(request, principal, status=400, refused=e.message)
        refused = await _record(
            home, "token.revoked", {"name": record.name, "scope": record.scope}, principal.name
        )
        if refused is not None:
            return await tokens_view(request, principal, status=400, refused=refused)
        return _see_other("/admin/tokens?done=revoked")


async def _record(home: Home, action: str, fields: Mapping[str, Any], actor: str) -> str | None:
    """Record the audit event of a change already made; the reason when that failed."""
    try:
        await asyncio.to_thread(audit.record, home, action, fields={**fields, "actor": actor})
    except MamoriError as e:
        return f"the change was made, but its audit event ({action}) could not be recorded: {e.message}"
    return None
