"""Security headers: the pure header set, the ASGI middleware, and every kind of answer of the
live server (API, API error, page, page error, static file, 500)."""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from mamori.web.security import (
    CSP_DIRECTIVES,
    SECURITY_HEADERS,
    SecurityHeaders,
    content_security_policy,
    with_security_headers,
)
from tests.web.conftest import INGEST, Live

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
EXPECTED_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
    "object-src 'none'"
)


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(live.cafile))
    with httpx.Client(base_url=live.url, verify=context, timeout=30) as c:
        yield c


# --- the policy (pure) ------------------------------------------------------------------------


def test_csp_is_the_specified_policy() -> None:
    assert content_security_policy() == EXPECTED_CSP


def test_csp_allows_no_inline_no_eval_and_no_other_origin() -> None:
    policy = content_security_policy()
    assert "unsafe" not in policy  # unsafe-inline, unsafe-eval, unsafe-hashes
    for name, sources in CSP_DIRECTIVES:
        for source in sources:
            # Only keywords, and data: for images: no host, no scheme-wide source, no "*".
            assert source in {"'self'", "'none'"} or (name, source) == ("img-src", "data:"), (
                name,
                source,
            )
    assert not re.search(r"https?:|\*|//", policy)
    names = [name for name, _ in CSP_DIRECTIVES]
    assert len(names) == len(set(names))
    # The fetch directives that fall back to default-src are all 'self' at most.
    assert dict(CSP_DIRECTIVES)["default-src"] == ("'self'",)


def test_every_header_is_lower_case_ascii_and_once() -> None:
    names = [name for name, _ in SECURITY_HEADERS]
    assert len(names) == len(set(names))
    for name, value in SECURITY_HEADERS:
        assert name == name.lower()
        assert name.decode("ascii") and value.decode("ascii")


def test_headers_are_added_unless_the_answer_sets_them() -> None:
    out = with_security_headers([(b"content-type", b"text/css")])
    assert out[0] == (b"content-type", b"text/css")
    assert set(out[1:]) == set(SECURITY_HEADERS)
    own = [(b"cache-control", b"public, max-age=31536000, immutable"), (b"etag", b'"x"')]
    out = with_security_headers(own)
    assert [v for n, v in out if n == b"cache-control"] == [b"public, max-age=31536000, immutable"]
    assert len(out) == len(own) + len(SECURITY_HEADERS) - 1
    # Names from the application may be in any case (ASGI says lower, but be safe).
    out = with_security_headers([(b"X-Frame-Options", b"SAMEORIGIN")])
    assert [n for n, _ in out].count(b"x-frame-options") == 0


def test_the_middleware_passes_other_scopes_through_untouched() -> None:
    seen: list[Message] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "lifespan.startup.complete"})

    async def send(message: Message) -> None:
        seen.append(message)

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    asyncio.run(SecurityHeaders(inner)({"type": "lifespan"}, receive, send))
    assert seen == [{"type": "lifespan.startup.complete"}]


# --- on the wire ------------------------------------------------------------------------------


def _assert_security_headers(r: httpx.Response, *, cache: str = "no-store") -> None:
    h = r.headers
    assert h["content-security-policy"] == EXPECTED_CSP, r.url
    assert h["strict-transport-security"] == "max-age=31536000"
    assert h["x-frame-options"] == "DENY"
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    assert "camera=()" in h["permissions-policy"]
    assert h["cross-origin-opener-policy"] == "same-origin"
    assert h["cross-origin-resource-policy"] == "same-origin"
    assert h["cache-control"] == cache
    # Each exactly once (a duplicate CSP would be intersected; a duplicate Cache-Control
    # is ambiguous).
    for name, _ in SECURITY_HEADERS:
        assert len(r.headers.get_list(name.decode())) == 1, name


@pytest.mark.parametrize(
    ("path", "headers", "status", "content_type"),
    [
        ("/api/v1/health", {}, 200, "application/json"),
        ("/api/v1/openapi.json", {}, 200, "application/json"),
        ("/metrics", {}, 401, "application/json"),
        ("/api/v1/nope", HTML, 404, "application/json"),
        ("/", {}, 200, "text/html; charset=utf-8"),
        ("/api/docs", HTML, 200, "text/html; charset=utf-8"),
        ("/no-such-page", HTML, 404, "text/html; charset=utf-8"),
        ("/no-such-page", {}, 404, "application/json"),
        ("/lang/en?next=/", {}, 303, None),
        ("/api/v1/test-boom", {"Authorization": f"Bearer {INGEST}"}, 500, "application/json"),
    ],
)
def test_every_kind_of_answer_has_the_headers(
    client: httpx.Client, path: str, headers: dict[str, str], status: int, content_type: str | None
) -> None:
    r = client.get(path, headers=headers)
    assert r.status_code == status, r.text
    if content_type is not None:
        assert r.headers["content-type"] == content_type
    _assert_security_headers(r)


def test_post_events_and_its_refusals_have_the_headers(client: httpx.Client) -> None:
    auth = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/json"}
    r = client.post("/api/v1/events", content=b'[{"message": "x"}]', headers=auth)
    assert r.status_code == 200
    _assert_security_headers(r)
    r = client.post("/api/v1/events", content=b"[", headers=auth)
    assert r.status_code == 400
    _assert_security_headers(r)
    r = client.post("/", headers=HTML)
    assert r.status_code == 405
    _assert_security_headers(r)


def test_static_files_keep_their_own_cache_control(client: httpx.Client) -> None:
    r = client.get("/static/mamori.css")
    assert r.status_code == 200
    _assert_security_headers(r, cache="no-cache")
    versioned = re.search(r'href="(/static/mamori\.css\?v=[0-9a-f]+)"', client.get("/").text)
    assert versioned is not None
    r = client.get(versioned.group(1))
    _assert_security_headers(r, cache="public, max-age=31536000, immutable")
    r = client.get("/static/nope.css", headers=HTML)
    assert r.status_code == 404
    _assert_security_headers(r)


def test_no_server_header_and_no_framework_banner(client: httpx.Client) -> None:
    r = client.get("/", headers=HTML)
    assert "server" not in r.headers
    assert "x-powered-by" not in r.headers


DOC = Path(__file__).resolve().parents[2] / "docs" / "console.md"


def test_docs_give_the_policy_and_every_header() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert content_security_policy() in text
    for name, _ in SECURITY_HEADERS:
        assert name.decode().lower() in text.lower(), name
