"""The console's pages: landing page, API docs, language switch, static files, error pages.

Pages are rendered by Jinja2 (:func:`mamori.web.i18n.environment`) in the request's language.
An error on a page path for a browser (``Accept: text/html``) is an HTML page in that language
with the status kept; everything under ``/api/`` (and ``/metrics``) keeps its JSON errors
(:func:`wants_html`). Static files are read once into memory and served from that table only:
a path that is not a key of it is a 404, so no request can reach another file.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

from mamori import __version__
from mamori.access.sessions import CSRF_FIELD
from mamori.web.auth import Principal, principal_of
from mamori.web.errors import HttpError
from mamori.web.i18n import COOKIE, N_, Lang, environment, negotiate

__all__ = [
    "NAV",
    "STATIC_DIR",
    "ErrorText",
    "Handler",
    "NavItem",
    "StaticAsset",
    "error_text",
    "etag_matches",
    "html_errors",
    "internal_error_page",
    "landing_page",
    "load_static",
    "local_path",
    "register_pages",
    "render",
    "request_lang",
    "wants_html",
]

STATIC_DIR: Final = Path(__file__).resolve().parent / "static"
OPENAPI_URL: Final = "/api/v1/openapi.json"
DOCS_URL: Final = "/api/docs"
LANG_MAX_AGE_S: Final = 365 * 24 * 3600
_NEXT_MAX: Final = 2048  # characters of a ?next= path; a longer one goes home
_SHOWN_PATH_MAX: Final = 200  # characters of a path named on an error page

_log = logging.getLogger("mamori.web")


# --- what the pages link to ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NavItem:
    """An entry of the header's navigation, shown only when its route exists."""

    path: str
    label: str
    """An ``N_`` message, translated when shown."""
    permission: str | None = None
    """Shown only to a principal with this permission (:mod:`mamori.access.roles`)."""


NAV: Final[tuple[NavItem, ...]] = (
    NavItem("/", N_("Home")),
    NavItem("/alerts", N_("Alerts"), "alerts.read"),
    NavItem("/incidents", N_("Incidents"), "incidents.read"),
    NavItem("/tickets", N_("Service desk"), "tickets.read"),
    NavItem("/vuln", N_("Vulnerabilities"), "vuln.read"),
    NavItem("/search", N_("Search"), "events.search"),
    NavItem("/ledger", N_("Ledger"), "ledger.read"),
    NavItem("/audit", N_("Audit trail"), "audit.read"),
    NavItem("/admin/users", N_("Users"), "users.read"),
    NavItem("/admin/devices", N_("Devices"), "devices.read"),
    NavItem("/admin/tokens", N_("Tokens"), "tokens.read"),
    NavItem(DOCS_URL, N_("API documentation")),
)
"""The navigation, in order. Later pages add their entry here; it appears once the page's
``GET`` route is registered, so the header never links to a page that does not exist."""


def _nav(app: FastAPI, current: str, principal: Principal | None = None) -> list[dict[str, object]]:
    routes = {
        getattr(route, "path", None)
        for route in app.routes
        if "GET" in (getattr(route, "methods", None) or ())
    }
    return [
        {"path": item.path, "label": item.label, "current": item.path == current}
        for item in NAV
        if item.path in routes
        and (
            item.permission is None or (principal is not None and principal.allows(item.permission))
        )
    ]


# --- pure request checks ---------------------------------------------------------------------


def wants_html(path: str, accept: str | None) -> bool:
    """Whether an error at `path` is answered with a page: not under ``/api/`` nor
    ``/metrics`` (machine endpoints keep JSON), and `accept` names ``text/html``."""
    if path == "/api" or path.startswith("/api/") or path == "/metrics":
        return False
    return accept is not None and "text/html" in accept.lower()


def local_path(target: str | None) -> str:
    """`target` if it is a path on this server (``/…``, nothing a browser could read as
    another host), else ``/``. Guards ``?next=`` against open redirects (CWE-601)."""
    if not target or len(target) > _NEXT_MAX or not target.startswith("/"):
        return "/"
    # "//host" and "/\\host" are other hosts to a browser, which also drops tabs and line
    # breaks from URLs (WHATWG URL §4.4) and reads "\\" as "/": none may appear.
    if any(c < " " or c in "\\\x7f" for c in target) or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


def request_lang(request: Request) -> Lang:
    """The request's language (cookie, else Accept-Language, else Japanese)."""
    return negotiate(request.cookies.get(COOKIE), request.headers.get("accept-language"))


# --- static files ----------------------------------------------------------------------------

_TYPES: Final = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, NOTICE
}
_IMMUTABLE: Final = "public, max-age=31536000, immutable"
_REVALIDATE: Final = "no-cache"


@dataclass(frozen=True, slots=True)
class StaticAsset:
    """A file under ``static/``, held in memory."""

    body: bytes
    content_type: str
    etag: str
    """Strong entity tag: the quoted start of the body's SHA-256 (RFC 9110 §8.8.3)."""
    version: str
    """Appended to its URL as ``?v=``; a URL with it may be cached for a year."""


def load_static(directory: Path = STATIC_DIR) -> dict[str, StaticAsset]:
    """Every servable file under `directory` (by its ``/``-separated relative path): known
    types only; hidden files and anything else skipped."""
    assets: dict[str, StaticAsset] = {}
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or any(part.startswith((".", "_")) for part in relative.parts):
            continue
        content_type = _TYPES.get(path.suffix)
        if content_type is None:
            continue
        body = path.read_bytes()
        digest = hashlib.sha256(body).hexdigest()
        assets[relative.as_posix()] = StaticAsset(
            body, content_type, etag=f'"{digest[:32]}"', version=digest[:12]
        )
    return assets


@functools.cache
def _static() -> dict[str, StaticAsset]:
    return load_static()


def static_url(name: str) -> str:
    """The URL of the static file `name`, versioned by its content; raises KeyError if there
    is no such file (a template bug, found by the tests)."""
    return f"/static/{name}?v={_static()[name].version}"


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header matches `etag` (weak comparison, RFC 9110 §13.1.2)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(
        candidate.strip().removeprefix("W/") == opaque
        for candidate in if_none_match[:4096].split(",")
    )


def _static_response(request: Request, name: str) -> Response:
    asset = _static().get(name)
    if asset is None:
        raise StarletteHTTPException(404)
    cache = _IMMUTABLE if request.query_params.get("v") == asset.version else _REVALIDATE
    headers = {"ETag": asset.etag, "Cache-Control": cache}
    if etag_matches(request.headers.get("if-none-match"), asset.etag):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


# --- rendering -------------------------------------------------------------------------------


def _next_path(scope: Scope) -> str:
    """The request's own path and query, for the language switch to come back to."""
    raw = scope.get("raw_path") or str(scope.get("path", "/")).encode()
    query = scope.get("query_string", b"")
    target = raw.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
    return local_path(target)


def render(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    **context: object,
) -> HTMLResponse:
    """`template` in the request's language, with what every page needs."""
    lang = request_lang(request)
    principal = principal_of(request)
    values: dict[str, object] = {
        "lang": lang.value,
        "langs": [(other.value, other.native_name) for other in Lang],
        "next_path": _next_path(request.scope),
        "nav": _nav(request.app, request.url.path, principal),
        "principal": principal,
        "signed_in": principal is not None and principal.via == "session",
        "console": getattr(request.app.state, "console", None) is not None,
        "csrf_field": CSRF_FIELD,
        "csrf": None if principal is None else principal.csrf,
        "static_url": static_url,
        "version": __version__,
    }
    values.update(context)
    html = environment(lang).get_template(template).render(values)
    return HTMLResponse(html, status_code=status, headers=headers)


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorText:
    """What an error page says (``N_`` messages)."""

    title: str
    message: str
    hint: str


_ERRORS: Final[Mapping[int, ErrorText]] = {
    400: ErrorText(
        N_("Bad request"),
        N_("The request could not be understood."),
        N_("Check the address. If you followed a link, start again from the home page."),
    ),
    401: ErrorText(
        N_("Sign-in needed"),
        N_("This page needs you to sign in."),
        N_("Sign in, then open the page again."),
    ),
    403: ErrorText(
        N_("Not allowed"),
        N_("You may not open this page."),
        N_("Ask the administrator if you need it."),
    ),
    404: ErrorText(
        N_("Page not found"),
        N_("There is no page at this address."),
        N_("Check the address, or start again from the home page."),
    ),
    405: ErrorText(
        N_("Method not allowed"),
        N_("This address does not accept this kind of request."),
        N_("Use the links and buttons of the pages rather than typing the request."),
    ),
    500: ErrorText(
        N_("Something went wrong"),
        N_("The server could not complete the request."),
        N_(
            "Try again. If it keeps happening, tell the administrator: the server log has the details."
        ),
    ),
}
_OTHER: Final = ErrorText(
    N_("Request refused"),
    N_("The server refused the request."),
    N_("Check the address, or start again from the home page."),
)


def error_text(status: int) -> ErrorText:
    """What the error page of `status` says."""
    return _ERRORS.get(status, _OTHER)


def error_page(
    request: Request, status: int, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """The error page of `status`, in the request's language."""
    text = error_text(status)
    return render(
        request,
        "error.html",
        status=status,
        headers=headers,
        code=status,
        title=text.title,
        message=text.message,
        hint=text.hint,
        shown_path=request.url.path[:_SHOWN_PATH_MAX],
    )


Handler = Callable[[Request, Exception], Awaitable[Response]]


def html_errors(json_handler: Handler) -> Handler:
    """`json_handler`, answering with the error page instead when :func:`wants_html`."""

    async def handler(request: Request, exc: Exception) -> Response:
        if not wants_html(request.url.path, request.headers.get("accept")):
            return await json_handler(request, exc)
        if isinstance(exc, StarletteHTTPException):
            status, headers = exc.status_code, dict(exc.headers or {})
        elif isinstance(exc, HttpError):  # its message is English: the page says its own
            status, headers = exc.status, exc.headers
        else:  # a request that does not fit its route's parameters
            status, headers = 400, {}
        return error_page(request, status, headers)

    return handler


_FALLBACK_500: Final = (
    b"<!doctype html><html lang=ja><meta charset=utf-8><title>500</title>"
    b"<h1>500</h1><p>\xe3\x82\xb5\xe3\x83\xbc\xe3\x83\x90\xe3\x83\xbc\xe3\x82\xa8\xe3\x83\xa9"
    b"\xe3\x83\xbc / Internal server error</p></html>"
)


def internal_error_page(scope: Scope) -> bytes | None:
    """The body of a 500 page for `scope` (``text/html; charset=utf-8``), or None when the
    answer should be JSON. Never raises: if the page itself cannot be rendered, a minimal
    fixed page is returned."""
    if scope.get("type") != "http":
        return None
    request = Request(scope)
    try:
        if not wants_html(request.url.path, request.headers.get("accept")):
            return None
        return bytes(error_page(request, 500).body)
    except Exception as e:  # the template failing is what we are reporting: stay minimal
        _log.error("the 500 page could not be rendered: %s", type(e).__name__)
        return _FALLBACK_500


# --- routes ----------------------------------------------------------------------------------


def _operations(app: FastAPI) -> int:
    paths = app.openapi().get("paths", {})
    return sum(len(methods) for methods in paths.values())


_READ: Final = ["GET", "HEAD"]  # HEAD: uvicorn sends the headers only


def landing_page(request: Request) -> HTMLResponse:
    """The landing page: product, version, server time, links to the API description."""
    return render(
        request,
        "index.html",
        now=dt.datetime.now(dt.UTC).astimezone(),
        operations=_operations(request.app),
        docs_url=DOCS_URL,
        openapi_url=OPENAPI_URL,
    )


def register_pages(app: FastAPI) -> None:
    """Add the pages and static files to `app` (``GET`` and ``HEAD``)."""

    @app.api_route("/", methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def landing(request: Request) -> Response:
        return landing_page(request)

    @app.api_route(DOCS_URL, methods=_READ, include_in_schema=False, response_class=HTMLResponse)
    async def api_docs(request: Request) -> Response:
        return render(request, "api_docs.html", openapi_url=OPENAPI_URL, wide=True)

    @app.api_route("/lang/{code}", methods=_READ, include_in_schema=False)
    async def switch_language(request: Request, code: str) -> Response:
        if code not in {lang.value for lang in Lang}:
            return error_page(request, 404)
        target = local_path(request.query_params.get("next"))
        response = RedirectResponse(target, status_code=303)
        # Lax, not Strict: the choice of language is no secret, and a link followed from
        # elsewhere should still show the page in it. Secure: the console is HTTPS only.
        response.set_cookie(
            COOKIE,
            code,
            max_age=LANG_MAX_AGE_S,
            path="/",
            secure=True,
            httponly=True,
            samesite="lax",
        )
        return response

    @app.api_route("/static/{name:path}", methods=_READ, include_in_schema=False)
    async def static(request: Request, name: str) -> Response:
        return _static_response(request, name)
