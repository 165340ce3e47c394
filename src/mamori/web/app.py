"""mamori's FastAPI application on the console port: event ingest, metrics, health, and the
console's pages (:mod:`mamori.web.pages`), every answer with the security headers of
:mod:`mamori.web.security`.

``POST /api/v1/events`` reads its body itself (streamed, capped, orjson; no pydantic per
event) and answers only once the sink has made the batch durable. Every answer that is not a
success is JSON ``{"error", "hint"}``: our refusals (:class:`~mamori.web.errors.HttpError`),
Starlette's 404 and 405, and an unexpected exception (500, no details; one structured line on
the ``mamori.web`` logger). Outside ``/api/`` and ``/metrics``, a browser (``Accept:
text/html``) gets those errors as a page in its language instead. See docs/http-api.md and
docs/console.md.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Protocol

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mamori import __version__
from mamori.access.sessions import SessionStore
from mamori.home import Home
from mamori.service.contracts import EventSink
from mamori.service.errors import SinkRejected
from mamori.service.metrics import Metrics
from mamori.web.auth import Console
from mamori.web.console import register_console
from mamori.web.errors import HttpError
from mamori.web.ingest import (
    BodyError,
    BodyFormat,
    GzipInflater,
    choose_format,
    decode_body,
    source_address,
    stamp,
    too_large,
    wants_gzip,
)
from mamori.web.openapi import (
    BEARER_HEADERS,
    EVENTS_OPENAPI,
    EVENTS_RESPONSES,
    METRICS_CONTENT_TYPE,
    ErrorModel,
    HealthModel,
    openapi,
)
from mamori.web.pages import Handler, html_errors, internal_error_page, register_pages
from mamori.web.security import SecurityHeaders

__all__ = ["RECEIVER", "SCOPES", "TokenCheck", "WebContext", "create_app"]

RECEIVER: Final = "http"
"""The receiver name on events (``mamori.receiver``), metrics and the device registry."""
SCOPES: Final = ("ingest", "metrics")
"""Token scopes this application checks (as in :mod:`mamori.access.tokens`)."""
RETRY_AFTER_S: Final = 5
# Bodies above this are decoded in a worker thread, so one large batch does not hold up the
# event loop (and every other request's acknowledgement) while it is parsed.
_THREAD_ABOVE: Final = 256 * 1024

_log = logging.getLogger("mamori.web")


class TokenCheck(Protocol):
    """Checks bearer tokens (the real one is :class:`mamori.access.tokens.TokenVerifier`).

    Called on the event loop for every request, so it must be quick (a look-up, no I/O).
    """

    def verify(self, token: str, scope: str) -> Any | None:
        """An object with ``.name: str`` when `token` is valid for `scope`; None otherwise."""
        ...


@dataclass(frozen=True, slots=True)
class WebContext:
    """What the application needs from the service."""

    sink: EventSink
    """Where accepted events go; answers once they are durable."""
    tokens: TokenCheck
    """Checks ``Authorization: Bearer`` tokens."""
    source_check: Callable[[str, str], bool]
    """``(receiver, client ip)`` → False to refuse the sender with 403 (device registry,
    APP-7); the service records ``device.unregistered`` itself."""
    metrics: Metrics
    """Counted here: events received and rejected, receiver "http"."""
    max_body_bytes: int
    """Largest request body, before and after gzip decoding (``[http] max_body_bytes``)."""
    home: Home | None = None
    """The home whose accounts, sessions and ledger the console serves; None: no console
    (sign-in, dashboard, search and the read API are not registered)."""


class JSONBody(JSONResponse):
    """A JSON answer serialised with orjson. A JSONResponse subclass, so that the OpenAPI
    schema of a route answering it is its model's (a plain Response subclass made FastAPI
    add `"type": "string"` beside the model's `$ref`, which schemathesis rightly flagged)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


# --- the application -------------------------------------------------------------------------


def create_app(ctx: WebContext) -> FastAPI:
    """The application, serving `ctx`."""
    app = FastAPI(
        title="mamori",
        version=__version__,
        description="mamori's HTTP API. Authentication: `Authorization: Bearer <token>`.",
        # The interactive docs pages load scripts from a CDN; the product's pages load
        # nothing from outside (APP-6). The schema itself is served.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    received = ctx.metrics.received.labels(receiver=RECEIVER)
    rejected = ctx.metrics.rejected.labels(receiver=RECEIVER)

    @app.post(
        "/api/v1/events",
        summary="Store a batch of events",
        description=(
            "All-or-nothing: if any item is bad the whole batch is refused (400, listing the "
            "bad items). Answers once the batch is durable. Each event gets `mamori.receiver`, "
            "`mamori.token` and `log.source.address`."
        ),
        response_class=JSONBody,
        responses=EVENTS_RESPONSES,
        openapi_extra=EVENTS_OPENAPI,
    )
    async def post_events(request: Request) -> Response:
        host, port = (request.client.host, request.client.port) if request.client else ("", 0)
        if not ctx.source_check(RECEIVER, host):
            raise HttpError(
                403,
                f"the device at {host} is not registered to send events",
                hint="register it: `mamori devices add NAME --address IP`",
            )
        token_name = _authorize(ctx.tokens, request.headers.get("authorization"), "ingest")
        headers = request.headers
        body_format = choose_format(headers.get("content-type"), request.query_params.get("format"))
        gzip = wants_gzip(headers.get("content-encoding"))
        try:
            body = await _read_body(request, ctx.max_body_bytes, gzip=gzip)
        except HttpError as e:
            if e.status == 413:
                rejected.inc()
            raise
        address = source_address(host, port)
        if len(body) > _THREAD_ABOVE:
            result = await asyncio.to_thread(_decode, body, body_format, token_name, address)
        else:
            result = _decode(body, body_format, token_name, address)
        if isinstance(result, BodyError):
            rejected.inc(max(result.total_items, 1))
            raise result.http_error()
        received.inc(len(result))
        try:
            ack = await ctx.sink.submit(result, receiver=RECEIVER)
        except SinkRejected as e:
            rejected.inc(len(result))
            raise HttpError(
                503,
                f"the events were not stored: {e.message}",
                hint=f"send the batch again after {RETRY_AFTER_S} seconds (Retry-After)",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            ) from e
        if ack.spooled or ack.first is None:
            return JSONBody({"accepted": ack.count, "spooled": True}, status_code=202)
        return JSONBody(
            {"accepted": ack.count, "first": ack.first, "last": ack.first + ack.count - 1}
        )

    @app.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Text exposition format."},
            401: {
                "model": ErrorModel,
                "description": "No token, or an unknown one.",
                "headers": BEARER_HEADERS,
            },
            403: {"model": ErrorModel, "description": "The token lacks scope `metrics`."},
        },
        openapi_extra={"security": [{"bearer": ["metrics"]}]},
    )
    async def get_metrics(request: Request) -> Response:
        _authorize(ctx.tokens, request.headers.get("authorization"), "metrics")
        return Response(ctx.metrics.render(), media_type=METRICS_CONTENT_TYPE)

    @app.get(
        "/api/v1/health",
        summary="Liveness",
        response_class=JSONBody,
        responses={200: {"model": HealthModel}},
    )
    async def get_health() -> Response:
        return JSONBody({"status": "ok"})

    if ctx.home is not None:
        # Before the pages: "/" is the dashboard for a signed-in person.
        register_console(
            app,
            Console(
                ctx.home,
                SessionStore(ctx.home),
                ctx.tokens,
                sink=ctx.sink,
                metrics=ctx.metrics,
            ),
        )
    register_pages(app)
    # Outside /api/ and /metrics a browser gets these as pages in its language.
    app.add_exception_handler(HttpError, html_errors(_on_http_error))
    app.add_exception_handler(
        StarletteHTTPException, _with_full_allow(html_errors(_on_starlette_error))
    )
    app.add_exception_handler(RequestValidationError, html_errors(_on_validation_error))
    app.add_middleware(_Guard)
    app.add_middleware(SecurityHeaders)  # outermost: the guard's 500 gets the headers too
    app.openapi = lambda: openapi(app)  # type: ignore[method-assign]
    return app


def _decode(
    body: bytes, body_format: BodyFormat, token_name: str, address: str
) -> list[bytes] | BodyError:
    decoded = decode_body(body, body_format)
    if isinstance(decoded, BodyError):
        return decoded
    return stamp(decoded, receiver=RECEIVER, token_name=token_name, address=address)


# --- requests --------------------------------------------------------------------------------


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (RFC 6750 §2.1); None if none."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return None
    return token


def _authorize(tokens: TokenCheck, header: str | None, scope: str) -> str:
    """The name of the token in `header`, valid for `scope`; raises 401 or 403."""
    token = bearer_token(header)
    if token is None:
        raise HttpError(
            401,
            "this endpoint needs a bearer token",
            hint=f"send `Authorization: Bearer <token>` with a token of scope {scope} "
            f"(`mamori tokens add NAME --scope {scope}`)",
            headers={"WWW-Authenticate": 'Bearer realm="mamori"'},
        )
    who = tokens.verify(token, scope)
    if who is not None:
        return str(who.name)
    # A valid token of another scope is a 403 (RFC 6750 §3.1 insufficient_scope), an unknown
    # or revoked one a 401. The verifier answers per scope, so ask it for the others.
    for other in SCOPES:
        if other != scope and (holder := tokens.verify(token, other)) is not None:
            raise HttpError(
                403,
                f"the token {str(holder.name)!r} does not have scope {scope}",
                hint=f"use a token created with `--scope {scope}`",
                headers={
                    "WWW-Authenticate": f'Bearer realm="mamori", error="insufficient_scope", scope="{scope}"'
                },
            )
    raise HttpError(
        401,
        "the bearer token is not valid (unknown, mistyped or revoked)",
        hint=f"check the token, or create one: `mamori tokens add NAME --scope {scope}`",
        headers={"WWW-Authenticate": 'Bearer realm="mamori", error="invalid_token"'},
    )


BODY_TIMEOUT_S = 60.0


async def _read_body(request: Request, limit: int, *, gzip: bool) -> bytes:
    """The body, decompressed; never more than `limit` bytes held, before or after gzip."""
    declared = request.headers.get("content-length", "").strip()
    if declared.isdigit() and int(declared) > limit:
        error = too_large(limit)
        error.headers["Connection"] = "close"  # the body was not read: do not wait for it
        raise error
    inflater = GzipInflater(limit) if gzip else None
    parts: list[bytes] = []
    size = 0
    try:
        # A sender that stalls mid-body would hold a connection forever (uvicorn has no body
        # timeout): the whole body must arrive within BODY_TIMEOUT_S.
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    error = too_large(limit)
                    error.headers["Connection"] = "close"  # a chunked body of unknown length
                    raise error
                parts.append(inflater.feed(chunk) if inflater is not None else chunk)
    except TimeoutError as e:
        raise HttpError(
            408,
            f"the request body did not arrive within {BODY_TIMEOUT_S:g} s",
            hint="send the body without pausing, or in smaller requests",
            headers={"Connection": "close"},
        ) from e
    except ClientDisconnect as e:
        raise HttpError(
            400,
            "the connection closed before the body was complete",
            hint="send the whole body",
        ) from e
    if inflater is not None:
        inflater.finish()
    return b"".join(parts)


# --- errors ----------------------------------------------------------------------------------


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    return JSONBody(exc.body(), status_code=exc.status, headers=exc.headers)


async def _on_starlette_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    path = request.url.path[:200]
    headers = dict(exc.headers or {})
    if exc.status_code == 404:
        body = {
            "error": f"there is no endpoint {request.method} {path}",
            "hint": "the API is under /api/v1; its description is at /api/v1/openapi.json",
        }
    elif exc.status_code == 405:
        allow = headers.get("Allow") or headers.get("allow") or ""
        body = {
            "error": f"{path} does not accept {request.method}",
            "hint": f"use {allow}" if allow else "see /api/v1/openapi.json",
        }
    else:
        body = {"error": str(exc.detail), "hint": "see /api/v1/openapi.json"}
    return JSONBody(body, status_code=exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods of every route whose path matches the request's, sorted."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches(request.scope)
            if match is not Match.NONE:
                methods |= route.methods
    return sorted(methods)


def _with_full_allow(handler: Handler) -> Handler:
    """`handler`, with a 405's ``Allow`` naming the methods of every route of the path.

    Starlette answers 405 from the first route whose path matches and names only that
    route's methods, so a path with a GET route and a POST route said ``Allow: GET``
    (RFC 9110 §15.5.6: ``Allow`` lists the methods the target resource supports).
    """

    async def with_allow(request: Request, exc: Exception) -> Response:
        if isinstance(exc, StarletteHTTPException) and exc.status_code == 405:
            methods = allowed_methods(request)
            if methods:
                headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
                headers.pop("allow", None)
                exc = StarletteHTTPException(405, detail=exc.detail, headers=headers)
        return await handler(request, exc)

    return with_allow


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        problems.append(f"{where}: {err.get('msg', 'not valid')}")
    return JSONBody(
        {
            "error": "the request is not valid: " + "; ".join(problems),
            "hint": "see /api/v1/openapi.json",
        },
        status_code=400,
    )


_INTERNAL: Final = orjson.dumps(
    {
        "error": "internal error: the request failed",
        "hint": "try again; if it persists, tell the administrator (the server log has the details)",
    }
)


class _Guard:
    """Application middleware inside :class:`~mamori.web.security.SecurityHeaders`: an
    unexpected exception becomes a 500 without details (JSON, or the error page for a
    browser outside /api/) and one structured log line (no traceback, never the bearer
    token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as e:
            _log_unexpected(scope, e)
            if started:
                return  # half sent: the server closes the connection (no traceback logged)
            page = internal_error_page(scope)
            content_type, body = (
                (b"application/json", _INTERNAL)
                if page is None
                else (b"text/html; charset=utf-8", page)
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", content_type),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def _log_unexpected(scope: Scope, exc: Exception) -> None:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None
    message = str(exc)
    for secret in _secrets(scope.get("headers", ())):
        message = message.replace(secret, "[redacted]")
    line = {
        "event": "web.unexpected_error",
        "method": scope.get("method"),
        "path": str(scope.get("path", ""))[:200],
        "error": type(exc).__name__,
        "message": message[:300],
        "where": where,
    }
    _log.error("%s", orjson.dumps(line).decode())


def _secrets(headers: Any) -> list[str]:
    """Bearer tokens in the request's headers, to keep them out of the log."""
    found = []
    for name, value in headers:
        if name == b"authorization":
            token = bearer_token(value.decode("latin-1"))
            if token:
                found.append(token)
    return found
