"""Who is asking: the principal of a request, from its session cookie or its bearer token, and
the FastAPI dependencies that let a route through only with a permission.

A session comes from the ``__Host-mamori-session`` cookie (:class:`mamori.access.SessionStore`);
a token from ``Authorization: Bearer``, valid for scope ``read``, which allows
``roles.SCOPE_PERMISSIONS["read"]``. The cookie wins when both are sent.

Refusals: under ``/api/`` a JSON 401 (with ``WWW-Authenticate``) or 403; on a page, a 303 to
``/signin?next=…`` when nobody is signed in, to the setup step for a ``setup`` session (it may
only change its password and enrol TOTP), and the 403 page otherwise. See docs/console.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol
from urllib.parse import parse_qsl, quote

from fastapi import Request
from starlette.exceptions import HTTPException as StarletteHTTPException

from mamori.access.roles import SCOPE_PERMISSIONS, Permission, permissions
from mamori.access.sessions import (
    COOKIE_NAME,
    CSRF_FIELD,
    CSRF_HEADER,
    SessionStore,
    Stage,
    check_csrf,
)
from mamori.home import Home
from mamori.web.errors import HttpError

__all__ = [
    "FORM_MAX",
    "LONG_FORM_MAX",
    "READ_SCOPE",
    "Console",
    "Principal",
    "Redirect",
    "check_csrf_of",
    "console_of",
    "form_of",
    "principal_of",
    "require",
    "require_signed_in",
    "setup_path",
]

READ_SCOPE: Final = "read"
_UNSET: Final = object()
FORM_MAX: Final = 16 * 1024
"""Largest form body the console reads by default (sign-in, password, TOTP, admin pages,
alerts): bytes."""
LONG_FORM_MAX: Final = 256 * 1024
"""Largest form body of the incident, ticket and alert-change forms, whose texts run long: about
29,000 Japanese characters once URL-encoded (9 bytes each), so a field of the API's 20,000
characters fits with the others, bytes."""


class _Tokens(Protocol):
    def verify(self, token: str, scope: str) -> Any | None: ...


@dataclass(frozen=True, slots=True)
class Console:
    """What the console's routes need: the home, its sessions, the token check."""

    home: Home
    sessions: SessionStore
    tokens: _Tokens
    """Checks bearer tokens (:class:`mamori.web.app.TokenCheck`)."""
    sink: object | None = None
    """The service's event sink, for the dashboard's spool state (None: not shown)."""
    metrics: object | None = None
    """The service's metrics (:class:`mamori.service.metrics.Metrics`), for the spool size."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The person or token behind a request."""

    name: str
    role: str | None
    """The account's role; None for a token."""
    permissions: frozenset[Permission]
    via: Literal["session", "token"]
    csrf: str | None = field(default=None, repr=False)
    """The session's CSRF token (None for a token: no cookie, no CSRF)."""
    stage: Stage = Stage.FULL
    must_change_password: bool = False
    totp_enabled: bool = True
    session_token: str | None = field(default=None, repr=False)

    def allows(self, permission: Permission | str) -> bool:
        """Whether this principal may do `permission` (a setup session may do nothing)."""
        if self.stage is not Stage.FULL:
            return False
        try:
            return Permission(permission) in self.permissions
        except ValueError:
            return False


class Redirect(Exception):
    """Raised by a dependency to answer with a 303 to `location`."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def console_of(request: Request) -> Console:
    """The console of the application; a 404 when it runs without one (no home)."""
    console = getattr(request.app.state, "console", None)
    if not isinstance(console, Console):
        raise StarletteHTTPException(404)
    return console


def _is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith("/api/")


def principal_of(request: Request) -> Principal | None:
    """The request's principal (cached on the request); None when nobody is signed in."""
    cached = getattr(request.state, "principal", _UNSET)
    if cached is not _UNSET:
        assert cached is None or isinstance(cached, Principal)
        return cached
    console = getattr(request.app.state, "console", None)
    principal = None if not isinstance(console, Console) else _resolve(request, console)
    request.state.principal = principal
    return principal


def _resolve(request: Request, console: Console) -> Principal | None:
    token = request.cookies.get(COOKIE_NAME)
    if token:
        session = console.sessions.lookup(token)
        if session is not None:
            return Principal(
                name=session.user,
                role=session.role,
                permissions=permissions(session.role),
                via="session",
                csrf=session.csrf,
                stage=session.stage,
                must_change_password=session.must_change_password,
                totp_enabled=session.totp_enabled,
                session_token=token,
            )
    from mamori.web.app import bearer_token  # the app module imports this one

    bearer = bearer_token(request.headers.get("authorization"))
    if bearer:
        who = console.tokens.verify(bearer, READ_SCOPE)
        if who is not None:
            return Principal(
                name=str(who.name),
                role=None,
                permissions=SCOPE_PERMISSIONS[READ_SCOPE],
                via="token",
            )
    return None


def setup_path(principal: Principal) -> str:
    """Where a setup session goes next: TOTP enrolment first, then the password change."""
    return "/account/totp" if not principal.totp_enabled else "/account/password"


def _sign_in_location(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/signin?next=" + quote(target, safe="")


def _unauthenticated() -> HttpError:
    return HttpError(
        401,
        "this endpoint needs a signed-in session or a bearer token of scope read",
        hint="sign in on the console, or send `Authorization: Bearer <token>` with a token "
        "created with `mamori tokens add NAME --scope read`",
        headers={"WWW-Authenticate": 'Bearer realm="mamori", scope="read"'},
    )


def require(permission: Permission) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the principal when it may do `permission`; otherwise the refusal above."""

    async def dependency(request: Request) -> Principal:
        console_of(request)
        principal = principal_of(request)
        api = _is_api(request)
        if principal is None:
            if api:
                raise _unauthenticated()
            raise Redirect(_sign_in_location(request))
        if principal.allows(permission):
            return principal
        if api:
            raise HttpError(
                403,
                f"{principal.name!r} may not do {permission.value}",
                hint="ask an administrator for a role that allows it (docs/roles.md)",
            )
        if principal.stage is Stage.SETUP:
            raise Redirect(setup_path(principal))
        raise StarletteHTTPException(403)

    return dependency


async def require_signed_in(request: Request) -> Principal:
    """A dependency for the account pages: any session, full or setup (not a token)."""
    console_of(request)
    principal = principal_of(request)
    if principal is None or principal.via != "session":
        raise Redirect(_sign_in_location(request))
    return principal


async def form_of(request: Request, limit: int = FORM_MAX) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (first value of each field),
    at most `limit` bytes (a 413 beyond); empty for any other body (not read: the CSRF header
    may still be there)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise StarletteHTTPException(413)
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=32)
    except (UnicodeDecodeError, ValueError):
        raise StarletteHTTPException(400) from None
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def check_csrf_of(request: Request, principal: Principal, form: dict[str, str]) -> None:
    """A 403 unless the request carries the session's CSRF token (field or header)."""
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if principal.csrf is None or not check_csrf(principal.csrf, presented):
        raise StarletteHTTPException(403)
