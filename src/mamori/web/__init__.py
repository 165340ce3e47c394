"""mamori's HTTP application on the console port (8443): event ingest, metrics, health.

:func:`create_app` builds the FastAPI application from a :class:`WebContext`;
:func:`serve_http` runs it with uvicorn over TLS in the host's event loop. The request bodies
are decoded by the pure functions of :mod:`mamori.web.ingest`. See docs/http-api.md.
"""

from __future__ import annotations

from mamori.web.app import RECEIVER, SCOPES, TokenCheck, WebContext, create_app
from mamori.web.errors import HttpError, WebError
from mamori.web.serve import serve_http, tls_context

__all__ = [
    "RECEIVER",
    "SCOPES",
    "HttpError",
    "TokenCheck",
    "WebContext",
    "WebError",
    "create_app",
    "serve_http",
    "tls_context",
]
