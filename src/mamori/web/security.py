"""Security headers on every answer of the console port: API, pages, errors, static files.

:func:`content_security_policy` and :func:`with_security_headers` are pure;
:class:`SecurityHeaders` is the pure-ASGI middleware that applies them (no
``BaseHTTPMiddleware``: it would put every ingest request through an extra task and a body
queue). Why each header is there: docs/console.md, "Security headers".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "CSP_DIRECTIVES",
    "SECURITY_HEADERS",
    "SecurityHeaders",
    "content_security_policy",
    "with_security_headers",
]

CSP_DIRECTIVES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    # Everything from mamori's own origin and nothing else (APP-6); no inline script or style
    # and no eval, so an injected <script> or style attribute does nothing (CSP 3 §6.1).
    ("default-src", ("'self'",)),
    ("script-src", ("'self'",)),
    ("style-src", ("'self'",)),
    # data: for the small SVG icons inside Swagger UI's stylesheet.
    ("img-src", ("'self'", "data:")),
    ("connect-src", ("'self'",)),
    # Nobody may frame the console (clickjacking); X-Frame-Options says it to old browsers.
    ("frame-ancestors", ("'none'",)),
    ("form-action", ("'self'",)),
    # No <base>: an injected one would redirect every relative URL.
    ("base-uri", ("'none'",)),
    ("object-src", ("'none'",)),
)
"""The Content-Security-Policy, directive by directive."""


def content_security_policy(
    directives: Sequence[tuple[str, Sequence[str]]] = CSP_DIRECTIVES,
) -> str:
    """The ``Content-Security-Policy`` header value of `directives` (CSP 3 §2.2 syntax)."""
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


SECURITY_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"content-security-policy", content_security_policy().encode("ascii")),
    # One year (RFC 6797 §6.1.1). No includeSubDomains: mamori does not own its host's
    # sibling names, and would break their plain-HTTP services.
    (b"strict-transport-security", b"max-age=31536000"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the
    # console's own form posts (Fetch §3.2.5), which an Origin check against CSRF must then
    # refuse. Nothing is sent to any other origin either way.
    (b"referrer-policy", b"same-origin"),
    (
        b"permissions-policy",
        b"accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        b"microphone=(), payment=(), usb=()",
    ),
    (b"cross-origin-opener-policy", b"same-origin"),
    # Other origins may not embed the console's answers (scripts, JSON) as no-cors resources.
    (b"cross-origin-resource-policy", b"same-origin"),
    # Pages and API answers are about the moment and may name users: never stored. Static
    # files set their own Cache-Control, which is kept.
    (b"cache-control", b"no-store"),
)
"""Added to every answer that does not set the header itself."""

_NAMES: Final = frozenset(name for name, _ in SECURITY_HEADERS)


def with_security_headers(
    headers: Iterable[tuple[bytes, bytes]],
    defaults: Sequence[tuple[bytes, bytes]] = SECURITY_HEADERS,
) -> list[tuple[bytes, bytes]]:
    """`headers` (raw ASGI pairs, lower-case names) with each of `defaults` they lack."""
    out = list(headers)
    present = {name.lower() for name, _ in out if name.lower() in _NAMES}
    if not present:
        out.extend(defaults)
    else:
        out.extend(pair for pair in defaults if pair[0] not in present)
    return out


class SecurityHeaders:
    """Pure-ASGI middleware: :data:`SECURITY_HEADERS` on every HTTP answer.

    Register it outermost (after every other ``add_middleware``) so the answers of the inner
    middleware (a 500 from the application's guard) get the headers too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_security_headers(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_with_headers)
