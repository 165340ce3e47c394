"""The console's pages over real HTTPS: landing page, API docs, static files, error pages,
and hostile paths and query strings. Plus the pure checks behind them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from fastapi import FastAPI

import mamori.web.pages as pages
from mamori import __version__
from mamori.service.metrics import Metrics
from mamori.web.errors import HttpError
from mamori.web.pages import (
    STATIC_DIR,
    etag_matches,
    load_static,
    local_path,
    wants_html,
)
from tests.web.conftest import FakeSink, FakeSources, Live, make_app

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
PAGES = ("/", "/api/docs")


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(live.cafile))
    with httpx.Client(base_url=live.url, verify=context, timeout=30) as c:
        yield c


def raw_get(live: Live, target: bytes, headers: bytes = b"") -> tuple[int, bytes, bytes]:
    """GET `target` exactly as given (httpx would normalise ``..`` and encodings away) on a
    fresh TLS connection: status, head, body."""
    context = ssl.create_default_context(cafile=str(live.cafile))
    with (
        socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(
            b"GET "
            + target
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            + headers
            + b"\r\n"
        )
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), head, body


class Refs(HTMLParser):
    """Every URL a page refers to, and anything inline that the CSP would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, url)
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href", "action", "formaction", "poster", "srcset"} or (
                name.startswith("data-") and name.endswith("-url")
            ):
                self.urls.append((tag, name, value or ""))
            if name == "style" or name.startswith("on"):
                self.inline.append(f"<{tag} {name}>")
            if name.startswith("hx-") and name not in {"hx-boost"}:
                self.urls.append((tag, name, value or ""))
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if not dict(attrs).get("src"):
                self.inline.append("<script> without src")
            self._in_script = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("inline script text")


def refs(html: str) -> Refs:
    parser = Refs()
    parser.feed(html)
    return parser


def same_origin(url: str) -> bool:
    """A URL that can only lead to the page's own origin."""
    if url.startswith("#"):
        return True
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith("/") and "\\" not in url


# --- landing page -----------------------------------------------------------------------------


def test_landing_shows_name_version_and_the_docs(client: httpx.Client) -> None:
    r = client.get("/", headers=HTML)
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "守り</span> mamori" in r.text
    assert f"<dd>{__version__}</dd>" in r.text
    assert '<a href="/api/docs">' in r.text
    assert '<a href="/api/v1/openapi.json">' in r.text
    assert re.search(r"<time datetime=\"\d{4}-\d\d-\d\dT[^\"]+\">\d{4}年\d{1,2}月\d{1,2}日", r.text)
    operations = sum(
        len(methods) for methods in client.get("/api/v1/openapi.json").json()["paths"].values()
    )
    assert f"{operations} 件の操作を記載" in r.text
    r = client.get("/", headers={**HTML, "Accept-Language": "en"})
    assert f"{operations} operations documented" in r.text


def test_the_header_links_only_to_pages_that_exist(client: httpx.Client) -> None:
    for path in PAGES:
        for lang in ("ja", "en"):
            r = client.get(path, headers={**HTML, "Accept-Language": lang})
            for tag, attribute, url in refs(r.text).urls:
                assert same_origin(url), (path, tag, attribute, url)
                if url.startswith("#"):
                    assert f'id="{url[1:]}"' in r.text
                    continue
                target = client.get(urljoin(path, url), headers=HTML)
                assert target.status_code in (200, 303), (path, url, target.status_code)


def test_the_current_page_is_marked_in_the_menu(client: httpx.Client) -> None:
    r = client.get("/api/docs", headers=HTML)
    assert '<a href="/api/docs" aria-current="page">' in r.text
    assert '<a href="/">' in r.text


def test_nav_shows_only_registered_routes() -> None:
    app = FastAPI()

    @app.get("/")
    async def home() -> None: ...

    nav = pages._nav(app, "/")
    assert [item["path"] for item in nav] == ["/"]  # /api/docs is not registered here


@pytest.mark.parametrize("path", PAGES)
def test_pages_have_no_inline_script_or_style(client: httpx.Client, path: str) -> None:
    for lang in ("ja", "en"):
        r = client.get(path, headers={**HTML, "Accept-Language": lang})
        assert refs(r.text).inline == [], path


def test_pages_are_responsive_with_system_fonts(client: httpx.Client) -> None:
    r = client.get("/", headers=HTML)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in r.text
    css = client.get("/static/mamori.css").text
    assert "@media (min-width: 40em)" in css
    assert "@font-face" not in css and "@import" not in css
    assert not re.search(r"url\(", css)


# --- API docs ---------------------------------------------------------------------------------


def test_the_docs_page_loads_only_same_origin_resources(client: httpx.Client) -> None:
    r = client.get("/api/docs", headers=HTML)
    assert r.status_code == 200
    found = refs(r.text)
    assert found.inline == []
    loaded = {url for tag, attribute, url in found.urls if tag in {"script", "link", "img"}}
    assert any("/static/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in loaded)
    assert any("/static/vendor/swagger-ui/swagger-ui.css" in url for url in loaded)
    assert any("/static/swagger-init.js" in url for url in loaded)
    for tag, attribute, url in found.urls:
        assert same_origin(url), (tag, attribute, url)
    for url in loaded:
        asset = client.get(url)
        assert asset.status_code == 200, url
    assert ("div", "data-openapi-url", "/api/v1/openapi.json") in found.urls
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_the_docs_initialiser_names_no_other_origin() -> None:
    script = (STATIC_DIR / "swagger-init.js").read_text(encoding="utf-8")
    assert "validatorUrl: null" in script
    assert "queryConfigEnabled: false" in script
    # Only the comment names the validator's host, to say why it is off.
    code = "\n".join(line for line in script.splitlines() if not line.strip().startswith("//"))
    assert not re.search(r"https?://|//[a-z]", code)


def test_fastapi_default_docs_stay_off(client: httpx.Client) -> None:
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert client.get(path).status_code == 404


# --- static files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("mamori.css", "text/css; charset=utf-8"),
        ("mamori.js", "text/javascript; charset=utf-8"),
        ("swagger-init.js", "text/javascript; charset=utf-8"),
        ("mamori.svg", "image/svg+xml"),
        ("vendor/htmx/htmx.min.js", "text/javascript; charset=utf-8"),
        ("vendor/swagger-ui/swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("vendor/swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
        ("vendor/swagger-ui/LICENSE", "text/plain; charset=utf-8"),
        ("vendor/README.md", "text/plain; charset=utf-8"),
    ],
)
def test_static_files_are_served_with_their_type(
    client: httpx.Client, name: str, content_type: str
) -> None:
    r = client.get(f"/static/{name}")
    assert r.status_code == 200
    assert r.headers["content-type"] == content_type
    assert r.content == (STATIC_DIR / name).read_bytes()
    assert r.headers["x-content-type-options"] == "nosniff"


def test_head_answers_headers_only(client: httpx.Client) -> None:
    for path in ("/", "/api/docs", "/static/mamori.css"):
        r = client.head(path)
        assert r.status_code == 200, path
        assert r.content == b""
        assert int(r.headers["content-length"]) > 0
        assert r.headers["content-security-policy"]


def test_static_files_have_an_etag_and_a_long_cache_when_versioned(client: httpx.Client) -> None:
    r = client.get("/static/mamori.js")
    etag = r.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert r.headers["cache-control"] == "no-cache"  # unversioned URL: revalidate
    again = client.get("/static/mamori.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    other = client.get("/static/mamori.js", headers={"If-None-Match": '"0000", W/' + etag})
    assert other.status_code == 304
    stale = client.get("/static/mamori.js", headers={"If-None-Match": '"stale"'})
    assert stale.status_code == 200
    version = hashlib.sha256((STATIC_DIR / "mamori.js").read_bytes()).hexdigest()[:12]
    r = client.get(f"/static/mamori.js?v={version}")
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    r = client.get("/static/mamori.js?v=0123456789ab")  # an old version's URL
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize(
    "target",
    [
        b"/static/",
        b"/static",
        b"/static/vendor",
        b"/static/vendor/",
        b"/static/vendor/htmx/",
        b"/static/../app.py",
        b"/static/../../../../etc/passwd",
        b"/static/%2e%2e/app.py",
        b"/static/%2E%2E%2Fapp.py",
        b"/static/..%2fapp.py",
        b"/static/..%5capp.py",
        b"/static/vendor/../../app.py",
        b"/static//etc/passwd",
        b"/static/%2fetc%2fpasswd",
        b"/static/./mamori.css",
        b"/static/mamori.css%00.js",
        b"/static/%00",
        b"/static/mamori.css/",
        b"/static/MAMORI.CSS",
        b"/static/__init__.py",
        b"/static/.hidden",
        b"/static/vendor/swagger-ui/swagger-ui.css.map",
    ],
)
def test_nothing_outside_the_static_table_is_served(live: Live, target: bytes) -> None:
    status, head, body = raw_get(live, target)
    if status == 307:  # Starlette's redirect to the slash form, which is a 404 in turn
        assert target == b"/static", head
        assert b"location: https://127.0.0.1/static/\r\n" in head.lower() + b"\r\n", head
        status, head, body = raw_get(live, target + b"/")
    assert status == 404, (target, head)
    assert b"root:" not in body and b"import" not in body


def test_the_static_table_holds_only_known_files(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.css").write_text("a{}")
    (tmp_path / "sub" / "b.js").write_text("1")
    (tmp_path / "app.py").write_text("secret")
    (tmp_path / ".env").write_text("secret")
    (tmp_path / "_private.js").write_text("secret")
    (tmp_path / "sub" / "x.map").write_text("{}")
    assets = load_static(tmp_path)
    assert set(assets) == {"a.css", "sub/b.js"}
    assert assets["a.css"].content_type == "text/css; charset=utf-8"
    assert assets["a.css"].etag == '"' + hashlib.sha256(b"a{}").hexdigest()[:32] + '"'


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ("*", True),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_etag_matching(header: str | None, matches: bool) -> None:
    assert etag_matches(header, '"abc"') is matches


# --- vendored files ---------------------------------------------------------------------------

VENDOR = STATIC_DIR / "vendor"


def test_vendored_files_match_their_recorded_sha256() -> None:
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"\| `([^`]+)` \| `package/[^`]+` \| `([0-9a-f]{64})` \|", readme))
    files = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - {
        "README.md"
    }
    assert set(recorded) == files  # every file recorded, nothing recorded that is absent
    for name, digest in recorded.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name


def test_vendored_libraries_ship_their_licences_and_no_source_maps() -> None:
    for library in ("htmx", "swagger-ui"):
        assert (VENDOR / library / "LICENSE").is_file()
    assert not list(STATIC_DIR.rglob("*.map"))


# --- error pages ------------------------------------------------------------------------------


def test_errors_are_pages_for_a_browser_and_json_otherwise(client: httpx.Client) -> None:
    r = client.get("/no/such/page", headers=HTML)
    assert r.status_code == 404
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "エラー 404" in r.text and "ページが見つかりません" in r.text
    assert "<code>/no/such/page</code>" in r.text
    r = client.get("/no/such/page")
    assert r.status_code == 404
    assert r.json()["error"] == "there is no endpoint GET /no/such/page"


def test_api_errors_stay_json_even_for_a_browser(client: httpx.Client) -> None:
    for path in ("/api/v1/nope", "/api/nope", "/metrics"):
        r = client.get(path, headers=HTML)
        assert r.headers["content-type"] == "application/json", path
        assert set(r.json()) >= {"error", "hint"}
    r = client.post("/api/docs", headers=HTML)  # the docs page is under /api/: JSON too
    assert r.status_code == 405
    assert r.headers["content-type"] == "application/json"


def test_method_not_allowed_page_keeps_allow(client: httpx.Client) -> None:
    r = client.post("/", headers={**HTML, "Accept-Language": "en"})
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["allow"].split(",")} == {"GET", "HEAD"}
    assert "Method not allowed" in r.text


def test_reflected_paths_are_escaped(client: httpx.Client) -> None:
    r = client.get("/%3Cscript%3Ealert(1)%3C%2Fscript%3E", headers=HTML)
    assert r.status_code == 404
    assert "<script>alert(1)" not in r.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text


@pytest.fixture
def local_app() -> FastAPI:
    """The application with two extra page routes, served in-process (no TLS needed to test
    what the handlers answer)."""
    app = make_app(FakeSink(), FakeSources(), Metrics())

    @app.get("/test-page-int")
    async def needs_int(n: int) -> dict[str, int]:
        return {"n": n}

    @app.get("/test-page-forbidden")
    async def forbidden() -> None:
        raise HttpError(403, "you may not", hint="ask", headers={"X-Why": "test"})

    @app.get("/test-page-boom")
    async def boom() -> None:
        raise RuntimeError("secret detail 7f3a")

    return app


def _local_get(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://mamori.test") as c:
            return await c.get(path, headers=headers)

    return asyncio.run(go())


def test_bad_parameters_on_a_page_are_a_400_page(local_app: FastAPI) -> None:
    r = _local_get(local_app, "/test-page-int?n=x", HTML)
    assert r.status_code == 400
    assert "不正なリクエスト" in r.text
    r = _local_get(local_app, "/test-page-int?n=x", {**HTML, "Accept-Language": "en"})
    assert "Bad request" in r.text
    r = _local_get(local_app, "/test-page-int?n=x", {})
    assert r.status_code == 400
    assert r.json()["error"].startswith("the request is not valid")


def test_a_refusal_on_a_page_is_a_page_with_its_status_and_headers(local_app: FastAPI) -> None:
    r = _local_get(local_app, "/test-page-forbidden", {**HTML, "Accept-Language": "en"})
    assert r.status_code == 403
    assert r.headers["x-why"] == "test"
    assert "Not allowed" in r.text and "you may not" not in r.text
    r = _local_get(local_app, "/test-page-forbidden", {})
    assert r.status_code == 403
    assert r.json() == {"error": "you may not", "hint": "ask"}


def test_an_unexpected_error_on_a_page_is_a_500_page_without_details(
    local_app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mamori.web"):
        r = _local_get(local_app, "/test-page-boom", {**HTML, "Accept-Language": "en"})
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Something went wrong" in r.text
    assert "7f3a" not in r.text and "RuntimeError" not in r.text and "Traceback" not in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'self'")
    r = _local_get(local_app, "/test-page-boom", {})
    assert r.status_code == 500
    assert r.headers["content-type"] == "application/json"


def test_a_500_page_that_cannot_render_falls_back_to_a_fixed_page(
    local_app: FastAPI, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("template broken")

    monkeypatch.setattr(pages, "error_page", broken)
    with caplog.at_level(logging.ERROR, logger="mamori.web"):
        r = _local_get(local_app, "/test-page-boom", HTML)
    assert r.status_code == 500
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert "Internal server error" in r.text
    assert "broken" not in r.text


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        b"/" + b"a" * 20_000,
        b"/?" + b"q=" + b"x" * 50_000,
        b"/static/" + b"../" * 2_000 + b"etc/passwd",
        b"/%00",
        b"/a%00b?x=%00",
        b"/%01%02%1b%7f",
        b"/%0d%0aSet-Cookie:%20x=y",
        b"/%ff%fe%c0%af",
        b"/%zz%",
        b"/?%zz=%",
        b"/lang/en?next=" + b"/" * 10_000,
        b"/lang/%00?next=/",
        b"/lang/en/../../etc/passwd",
        b"/api/docs?url=https://evil.example/openapi.json",
        b"/api/v1/%00",
        b"//evil.example/",
        b"/..",
        b"/.%2e/.%2e/",
        b"/static/%c0%ae%c0%ae/app.py",
        # Refused by the HTTP parser itself (a plain-text 400 from uvicorn): raw control
        # characters and bytes above 0x7e in the request line, a 200 KB request line.
        b"/a\x01b",
        b"/?next=%0d%0a&lang=\xff",
        b"/" + b"a" * 200_000,
    ],
)
@pytest.mark.parametrize("accept", [b"", b"Accept: text/html\r\n"])
def test_hostile_paths_and_queries_are_never_a_500(
    live: Live, target: bytes, accept: bytes
) -> None:
    status, head, body = raw_get(live, target, accept)
    assert status in (200, 303, 400, 404, 405, 414), (target[:80], head)
    assert b"Traceback" not in body
    if accept and status >= 400 and b"text/html" in head:
        assert b"<!doctype html>" in body


@pytest.mark.parametrize(
    "headers",
    [
        {"Accept-Language": "x" * 8000},
        {"Accept-Language": ",;=q" * 1000},
        {"Accept-Language": "en;q=1e999, ja;q=-1, *;q=nan"},
        {"Cookie": "lang=" + "x" * 4000},
        {"Cookie": "lang=en; lang=ja; ;;; =; lang"},
        {"Cookie": 'lang="\\x00"'},
        {"Accept": "text/html" + ",*/*" * 1000},
        {"If-None-Match": '"' + "x" * 8000 + '"'},
    ],
)
def test_hostile_headers_are_never_a_500(client: httpx.Client, headers: dict[str, str]) -> None:
    for path in ("/", "/missing", "/static/mamori.css", "/lang/en?next=/"):
        r = client.get(path, headers=headers)
        assert r.status_code < 500, (path, headers, r.status_code)


# --- the language switch refuses open redirects -----------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/api/docs", "/api/docs"),
        ("/a/b?c=d&e=%2F#frag", "/a/b?c=d&e=%2F#frag"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),  # a path, encoded: stays here
        (None, "/"),
        ("", "/"),
        ("//evil.example", "/"),
        ("//evil.example/path", "/"),
        ("///evil.example", "/"),
        ("/\\evil.example", "/"),
        ("\\\\evil.example", "/"),
        ("/\\/evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("/\n/evil.example", "/"),
        ("/\r\nSet-Cookie: x=y", "/"),
        ("https://evil.example", "/"),
        ("http:evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("evil.example", "/"),
        ("./x", "/"),
        ("/x\x00", "/"),
        ("/x\x7f", "/"),
        ("/" + "a" * 5000, "/"),
    ],
)
def test_local_path(target: str | None, expected: str) -> None:
    assert local_path(target) == expected


@pytest.mark.parametrize(
    "next_value",
    [
        "//evil.example",
        "https://evil.example/",
        "/\\evil.example",
        "\\/evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
        "//%65vil.example",
        "/\r\nLocation: https://evil.example",
    ],
)
def test_the_language_switch_refuses_open_redirects(client: httpx.Client, next_value: str) -> None:
    r = client.get("/lang/en", params={"next": next_value})
    assert r.status_code == 303
    assert r.headers["location"] == "/"
    assert r.headers.get_list("location") == ["/"]


def test_the_switch_link_on_a_page_at_a_hostile_path_goes_home(live: Live) -> None:
    status, _, body = raw_get(live, b"//evil.example/x", b"Accept: text/html\r\n")
    assert status == 404
    assert b'href="/lang/en?next=/"' in body


@pytest.mark.parametrize(
    ("path", "accept", "expected"),
    [
        ("/", "text/html", True),
        ("/x", "TEXT/HTML,application/xhtml+xml", True),
        ("/x", "*/*", False),
        ("/x", None, False),
        ("/x", "application/json", False),
        ("/api/v1/x", "text/html", False),
        ("/api", "text/html", False),
        ("/api/docs", "text/html", False),
        ("/metrics", "text/html", False),
        ("/apis", "text/html", True),
    ],
)
def test_wants_html(path: str, accept: str | None, expected: bool) -> None:
    assert wants_html(path, accept) is expected


def test_every_screenshot_is_listed_in_the_docs() -> None:
    """docs/console.md links each PNG that scripts/screenshots writes, and only those."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    linked = re.findall(r"\]\(screenshots/([\w-]+)\.png\)", (docs / "console.md").read_text())
    program = (Path(__file__).parent / "screenshots.py").read_text()
    shot = re.findall(r'shoot\(page, out, "([\w-]+)"\)', program)
    shot += re.findall(r'\("/admin/\w+", "(\w+)"\)', program)  # the admin pages' loop
    assert set(linked) == set(shot) and len(shot) == len(set(shot))
    assert {f.stem for f in (docs / "screenshots").glob("*.png")} == set(shot)
