"""The console with the real access layer and a real home, served over TLS by serve_http:
sign-in outcomes, account setup (TOTP, password), CSRF, the session cookie, the authorisation
matrix (every console route × every role), read tokens, and search / event detail / proofs
over events appended with the real Sequencer."""

from __future__ import annotations

import datetime as dt
import html
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import markupsafe
import pyotp
import pytest

from mamori.access import (
    add_token,
    add_user,
    begin_totp_enrolment,
    change_password,
    confirm_totp_enrolment,
)
from mamori.access.roles import ROLES, Permission, Role
from mamori.access.sessions import COOKIE_NAME, CSRF_FIELD
from mamori.access.tokens import TokenVerifier
from mamori.access.totp import code_at
from mamori.home import Home, initialise
from mamori.ledger import merkle
from mamori.ledger.canonical import canonical
from mamori.ledger.writer import Sequencer
from mamori.service.metrics import Metrics
from mamori.web import WebContext, create_app
from tests.web.conftest import MAX_BODY, Cert, FakeSink, FakeSources, ServerThread

HTML = {"Accept": "text/html"}


@dataclass
class Console:
    url: str
    cafile: Path
    home: Home
    admin_password: str
    first_index: int
    """Index of the first event the fixture appended (its marker events follow)."""

    def client(self, *, origin: str | None = None) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self.cafile),
            headers={"Origin": origin or self.url, **HTML},
            follow_redirects=False,
            timeout=30,
        )


MARKER = "zebra-marker-7f3a"


def _event(i: int) -> bytes:
    return canonical(
        {
            "@timestamp": f"2026-11-27T09:00:{i:02d}.000000Z",
            "event": {
                "action": "ssh-login",
                "outcome": "failure",
                "original": f"<38>Nov 27 09:00:{i:02d} web-01 sshd: Failed password {MARKER} "
                f"<script>alert({i})</script>",
            },
            "host": {"name": "web-01"},
            "message": f"Failed password {MARKER} number {i} <script>alert({i})</script>",
        }
    )


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory, cert: Cert) -> Iterator[Console]:
    made = initialise(tmp_path_factory.mktemp("console") / "home", origin="test.example/c")
    home = made.home
    with Sequencer(home) as seq:
        first = seq.commit([_event(i) for i in range(12)]).first
    ctx = WebContext(
        sink=FakeSink(),
        tokens=TokenVerifier(home, interval=0.0),
        source_check=FakeSources(),
        metrics=Metrics(),
        max_body_bytes=MAX_BODY,
        home=home,
    )
    server = ServerThread(create_app(ctx), cert)
    yield Console(server.url, cert.certfile, home, made.admin_password, first)
    server.stop()
    assert server.error is None, server.error


# --- helpers -----------------------------------------------------------------------------------


class Codes:
    """TOTP codes of one secret, each of a later step than the last one used (no replay)."""

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last: int | None = None

    def next(self) -> str:
        current = int(time.time()) // 30
        step = current - 1 if self.last is None else max(self.last + 1, current - 1)
        assert step <= current + 1, "ran out of TOTP steps inside the window"
        self.last = step
        return self.totp.generate_otp(step)


def csrf_of(page: str) -> str:
    found = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def secret_of(page: str) -> str:
    found = re.search(r'<code class="secret">([A-Z2-7 ]+)</code>', page)
    assert found, "no TOTP secret on the page"
    return found.group(1).replace(" ", "")


def sign_in(c: httpx.Client, name: str, password: str, code: str | None = None) -> httpx.Response:
    data = {"name": name, "password": password, "code": code or "", "next": "/"}
    return c.post("/signin", data=data)


@dataclass
class Account:
    name: str
    password: str
    codes: Codes
    client: httpx.Client
    signed_in: httpx.Response
    """The answer to the full sign-in (its Set-Cookie)."""


NEW_PASSWORD = "correct horse battery staple 42"


def set_up(console: Console, name: str, password: str) -> Account:
    """First sign-in of an account through the pages: TOTP enrolment, password change, full
    sign-in. Returns the account with a signed-in client."""
    c = console.client()
    r = sign_in(c, name, password)
    assert r.status_code == 303 and r.headers["location"] == "/account/totp", r.text
    page = c.get("/account/totp")
    assert page.status_code == 200
    assert "<svg" in page.text and "style=" not in page.text.split("<svg", 1)[1].split("</svg>")[0]
    codes = Codes(secret_of(page.text))
    r = c.post("/account/totp", data={"code": codes.next(), CSRF_FIELD: csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/signin?done=totp"
    r = sign_in(c, name, password, codes.next())
    assert r.status_code == 303 and r.headers["location"] == "/account/password", r.text
    page = c.get("/account/password")
    r = c.post(
        "/account/password",
        data={
            "current": password,
            "new": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
            CSRF_FIELD: csrf_of(page.text),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/signin?done=password", r.text
    r = sign_in(c, name, NEW_PASSWORD, codes.next())
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    return Account(name, NEW_PASSWORD, codes, c, r)


@pytest.fixture(scope="module")
def accounts(console: Console) -> Iterator[dict[Role, Account]]:
    """A fully signed-in account of every role."""
    out: dict[Role, Account] = {}
    for role in Role:
        name = f"matrix-{role.value}"
        out[role] = set_up(console, name, add_user(console.home, name, role))
    yield out
    for account in out.values():
        account.client.close()


# --- sign-in outcomes --------------------------------------------------------------------------

FAILED = {
    "ja": "サインインできませんでした。名前、パスワード、コードを確認してください。",
    "en": "Sign-in failed. Check the name, the password and the code.",
}


def test_a_wrong_password_and_an_unknown_name_look_the_same(console: Console) -> None:
    add_user(console.home, "wrongpw", Role.OPERATOR)
    with console.client() as c:
        known = sign_in(c, "wrongpw", "not the password at all")
        unknown = sign_in(c, "nobody-here", "not the password at all")
    for r in (known, unknown):
        assert r.status_code == 401
        assert FAILED["ja"] in r.text
        assert COOKIE_NAME not in r.headers.get("set-cookie", "")
    assert known.text.replace("wrongpw", "") == unknown.text.replace("nobody-here", "")


def test_five_failures_lock_the_account(console: Console) -> None:
    password = add_user(console.home, "locky", Role.AUDITOR)
    with console.client() as c:
        for _ in range(4):
            r = sign_in(c, "locky", "wrong")
            assert r.status_code == 401 and FAILED["ja"] in r.text
        fifth = sign_in(c, "locky", "wrong")
        assert fifth.status_code == 401
        assert "ロックされています" in fifth.text
        right = sign_in(c, "locky", password)
        assert right.status_code == 401
        assert "ロックされています" in right.text
        assert COOKIE_NAME not in right.headers.get("set-cookie", "")


@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_sign_in_from_another_origin_is_refused(console: Console, origin: str | None) -> None:
    c = httpx.Client(
        base_url=console.url, verify=ssl.create_default_context(cafile=console.cafile), headers=HTML
    )
    headers = {} if origin is None else {"Origin": origin}
    with c:
        r = c.post("/signin", data={"name": "admin", "password": "x"}, headers=headers)
    assert r.status_code == 403


def test_first_sign_in_of_the_administrator(console: Console) -> None:
    """The one-time password of `mamori init`: TOTP enrolment, then the password change,
    then a full session with the cookie attributes of the __Host- prefix."""
    account = set_up(console, "admin", console.admin_password)
    assert account.client.cookies.get(COOKIE_NAME)
    r = account.signed_in
    set_cookie = r.headers["set-cookie"]
    assert set_cookie.startswith(f"{COOKIE_NAME}=")
    attributes = {a.strip().split("=")[0].lower(): a.strip() for a in set_cookie.split(";")[1:]}
    assert "secure" in attributes and "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    assert "domain" not in attributes
    dashboard = account.client.get("/")
    assert dashboard.status_code == 200
    assert "ダッシュボード" in dashboard.text
    account.client.close()


def test_a_setup_session_reaches_only_the_setup_pages(console: Console) -> None:
    password = add_user(console.home, "setup-only", Role.AUDITOR)
    with console.client() as c:
        r = sign_in(c, "setup-only", password)
        assert r.headers["location"] == "/account/totp"
        search = c.get("/search")
        assert search.status_code == 303 and search.headers["location"] == "/account/totp"
        assert c.get("/").headers["location"] == "/account/totp"
        assert c.get("/api/v1/search").status_code == 403
        assert c.get("/events/0").status_code == 303
        assert c.get("/account/totp").status_code == 200


def test_a_wrong_enrolment_code_shows_a_new_qr_code(console: Console) -> None:
    password = add_user(console.home, "badcode", Role.CSIRT)
    with console.client() as c:
        sign_in(c, "badcode", password)
        page = c.get("/account/totp")
        r = c.post("/account/totp", data={"code": "000000", CSRF_FIELD: csrf_of(page.text)})
        assert r.status_code == 303 and r.headers["location"] == "/account/totp?failed=1"
        again = c.get(r.headers["location"])
        assert "コードが正しくありません" in again.text


def test_password_change_problems_are_shown(console: Console) -> None:
    password = add_user(console.home, "pwprob", Role.AGENCY)
    with console.client() as c:
        sign_in(c, "pwprob", password)
        page = c.get("/account/totp")
        codes = Codes(secret_of(page.text))
        c.post("/account/totp", data={"code": codes.next(), CSRF_FIELD: csrf_of(page.text)})
        sign_in(c, "pwprob", password, codes.next())
        csrf = csrf_of(c.get("/account/password").text)
        cases = [
            ({"current": password, "new": NEW_PASSWORD, "confirm": "other"}, "一致しません"),
            ({"current": password, "new": "short", "confirm": "short"}, "使えません"),
            (
                {"current": "wrong password!", "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
                "現在のパスワードが違います",
            ),
        ]
        for data, expected in cases:
            r = c.post("/account/password", data={**data, CSRF_FIELD: csrf})
            assert r.status_code == 400
            assert expected in r.text


# --- CSRF and signing out ----------------------------------------------------------------------


def test_state_changing_posts_need_the_csrf_token(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.AUDITOR].client
    assert c.post("/signout", data={}).status_code == 403
    assert c.post("/signout", data={CSRF_FIELD: "forged-token"}).status_code == 403
    assert c.post("/signout", headers={"X-CSRF-Token": "forged"}, data={}).status_code == 403
    password = add_user(console.home, "csrf-setup", Role.OPERATOR)
    with console.client() as s:
        sign_in(s, "csrf-setup", password)
        assert s.post("/account/totp", data={"code": "123456"}).status_code == 403
        r = s.post(
            "/account/password",
            data={"current": password, "new": NEW_PASSWORD, "confirm": NEW_PASSWORD},
        )
        assert r.status_code == 403
    assert c.get("/search").status_code == 200  # still signed in


def test_signing_out_ends_the_session(console: Console) -> None:
    account = set_up(console, "leaver", add_user(console.home, "leaver", Role.CSIRT))
    c = account.client
    token = c.cookies.get(COOKIE_NAME)
    assert token
    page = c.get("/search")
    r = c.post("/signout", data={CSRF_FIELD: csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"] == "/signin?done=signed_out"
    with console.client() as other:
        other.cookies.set(COOKIE_NAME, token)
        assert other.get("/search").status_code == 303
        assert other.get("/api/v1/search").status_code == 401
    c.close()


# --- authorisation matrix ----------------------------------------------------------------------

ROUTES: list[tuple[str, Permission | None]] = [
    ("/", None),
    ("/search", Permission.EVENTS_SEARCH),
    ("/search?q=zebra-marker-7f3a", Permission.EVENTS_SEARCH),
    ("/events/{first}", Permission.EVENTS_READ),
    ("/api/v1/status", Permission.OPS_STATUS),
    ("/api/v1/search", Permission.EVENTS_SEARCH),
    ("/api/v1/events/{first}", Permission.EVENTS_READ),
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize(("path", "permission"), ROUTES)
def test_authorisation_matrix(
    console: Console,
    accounts: dict[Role, Account],
    role: Role,
    path: str,
    permission: Permission | None,
) -> None:
    r = accounts[role].client.get(path.format(first=console.first_index))
    if permission is None or permission in ROLES[role]:
        assert r.status_code == 200, (role, path, r.text[:300])
    else:
        assert r.status_code == 403, (role, path, r.status_code)
        if path.startswith("/api/"):
            assert "error" in r.json()


@pytest.mark.parametrize(("path", "permission"), ROUTES[1:])
def test_nobody_signed_in_is_sent_to_sign_in(
    console: Console, path: str, permission: Permission
) -> None:
    with console.client() as c:
        r = c.get(path.format(first=console.first_index))
    if path.startswith("/api/"):
        assert r.status_code == 401
        assert r.headers["www-authenticate"].startswith("Bearer")
    else:
        assert r.status_code == 303
        assert r.headers["location"].startswith("/signin?next=%2F")


def test_the_nav_shows_search_only_to_roles_that_may(accounts: dict[Role, Account]) -> None:
    for role, account in accounts.items():
        page = account.client.get("/").text
        assert ('href="/search"' in page) == (Permission.EVENTS_SEARCH in ROLES[role]), role


# --- tokens ------------------------------------------------------------------------------------


def test_a_read_token_can_search_and_read(console: Console) -> None:
    token = add_token(console.home, "automation", "read")
    ingest = add_token(console.home, "sender", "ingest")
    with httpx.Client(
        base_url=console.url, verify=ssl.create_default_context(cafile=console.cafile)
    ) as c:
        auth = {"Authorization": f"Bearer {token}"}
        r = c.get("/api/v1/search", params={"q": MARKER, "limit": 3}, headers=auth)
        assert r.status_code == 200, r.text
        assert len(r.json()["hits"]) == 3
        assert c.get(f"/api/v1/events/{console.first_index}", headers=auth).status_code == 200
        assert c.get("/api/v1/status", headers=auth).status_code == 200
        r = c.get("/api/v1/search", headers={"Authorization": f"Bearer {ingest}"})
        assert r.status_code == 401
        assert c.get("/api/v1/search", headers={"Authorization": "Bearer nope"}).status_code == 401


# --- search, event detail, proofs --------------------------------------------------------------


def test_appended_events_are_found_and_paged(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.OPERATOR].client
    r = c.get("/api/v1/search", params={"q": MARKER, "limit": 5})
    body = r.json()
    indices = [hit["index"] for hit in body["hits"]]
    last = console.first_index + 11
    assert indices == list(range(last, last - 5, -1))
    assert body["hits"][0]["host"] == "web-01"
    assert body["hits"][0]["action"] == "ssh-login"
    assert body["next_before"] == indices[-1]
    seen = list(indices)
    before = body["next_before"]
    while before is not None:
        body = c.get("/api/v1/search", params={"q": MARKER, "limit": 5, "before": before}).json()
        seen += [hit["index"] for hit in body["hits"]]
        before = body["next_before"]
    assert seen == list(range(last, console.first_index - 1, -1))
    page = c.get("/search", params={"q": MARKER, "limit": 5})
    assert page.status_code == 200
    assert f'href="/events/{last}"' in page.text
    assert "<script>alert" not in page.text  # escaped
    assert html.escape("<script>alert(11)</script>", quote=False) in page.text
    assert "before=" in page.text


def test_an_event_shows_its_raw_message_fields_and_a_proof_that_verifies(
    console: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.AUDITOR].client
    index = console.first_index + 3
    doc = c.get(f"/api/v1/events/{index}").json()
    assert MARKER in doc["original"]
    proof = doc["proof"]
    assert proof["verified"] is True
    # The client checks it too, from the bytes of the ledger entry.
    from mamori.ledger.store import Reader

    with Reader(console.home.ledger_db) as reader:
        entry = reader.entry(index)
        cp = reader.latest_checkpoint()
    assert entry is not None and entry[1] is not None and cp is not None
    assert proof["root_hash"] == cp.root.hex()
    assert merkle.verify_inclusion(
        merkle.leaf_hash(entry[1]),
        index,
        proof["tree_size"],
        [bytes.fromhex(h) for h in proof["hashes"]],
        bytes.fromhex(proof["root_hash"]),
    )
    page = c.get(f"/events/{index}")
    assert page.status_code == 200
    assert 'id="proof-verified" class="ok"' in page.text
    assert "<code>host.name</code>" in page.text
    assert "&lt;script&gt;" in page.text and "<script>alert" not in page.text


def test_the_dashboard_shows_the_ledger(console: Console, accounts: dict[Role, Account]) -> None:
    page = accounts[Role.OPERATOR].client.get("/")
    assert 'id="tree-size"' in page.text
    status = accounts[Role.OPERATOR].client.get("/api/v1/status").json()
    assert status["tree_size"] >= console.first_index + 12
    assert status["checkpoint_age_s"] >= 0
    agency = accounts[Role.AGENCY].client.get("/")
    assert 'id="tree-size"' not in agency.text


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/events/99999999999999999999999", 400),
        ("/events/-1", 400),
        ("/events/abc", 400),
        ("/events/4611686018427387903", 404),
        ("/search?q=%28%28%28", 400),
        ("/search?since=yesterday-ish", 400),
        ("/search?limit=0", 400),
        ("/search?before=x", 400),
        ("/search?q=" + "a" * 3000, 400),
        ("/api/v1/search?q=%22unclosed", 400),
        ("/api/v1/events/123456789", 404),
    ],
)
def test_bad_input_gets_its_status_never_a_500(
    accounts: dict[Role, Account], path: str, status: int
) -> None:
    r = accounts[Role.AUDITOR].client.get(path)
    assert r.status_code == status, (path, r.text[:300])


def ready(console: Console, name: str, role: Role) -> Codes:
    """An account set up through the access layer (TOTP enrolled a minute ago, password
    changed to NEW_PASSWORD), so the HTTP sign-ins have the whole TOTP window to use."""
    password = add_user(console.home, name, role)
    secret = begin_totp_enrolment(console.home, name).secret
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    assert confirm_totp_enrolment(console.home, name, code_at(secret, earlier), now=earlier)
    change_password(console.home, name, password, NEW_PASSWORD)
    codes = Codes(secret)
    codes.last = int(earlier.timestamp()) // 30
    return codes


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/search?q=x", "/search?q=x"),
        ("//evil.example/", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ],
)
def test_sign_in_goes_to_next_only_on_this_server(
    console: Console, target: str, expected: str
) -> None:
    name = f"nexter-{abs(hash(target)) % 10**6}"
    codes = ready(console, name, Role.AGENCY)
    with console.client() as c:
        r = c.post(
            "/signin",
            data={"name": name, "password": NEW_PASSWORD, "code": codes.next(), "next": target},
        )
    assert r.status_code == 303
    assert r.headers["location"] == expected


# --- search: field filters and the time range --------------------------------------------------

FILTER_MARKER = "filter-marker-9c1e"


def _filter_event(ts: str, host: str, user: str, action: str, outcome: str, ip: str) -> bytes:
    return canonical(
        {
            "@timestamp": ts,
            "event": {"action": action, "outcome": outcome},
            "host": {"name": host},
            "user": {"name": user},
            "source": {"ip": ip},
            "message": f"{FILTER_MARKER} {action}",
        }
    )


@pytest.fixture(scope="module")
def filtered(console: Console) -> list[int]:
    """Three events for the field filters, their indices in order."""
    with Sequencer(console.home) as seq:
        first = seq.commit(
            [
                _filter_event(
                    "2026-12-01T10:00:00Z",
                    "web 02",
                    'o\'brien "the admin"',
                    "ログイン",
                    "success",
                    "10.1.2.3",
                ),
                _filter_event(
                    "2026-12-02T10:00:00Z", "web 02", "田中", "ログイン", "failure", "192.0.2.9"
                ),
                _filter_event(
                    "2026-12-03T10:00:00Z", "db-01", "田中", "sudo", "success", "10.1.9.9"
                ),
            ]
        ).first
    return [first, first + 1, first + 2]


def _found(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/events/(\d+)"', page)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"host": "web 02"}, [1, 0]),
        ({"user": 'o\'brien "the admin"'}, [0]),
        ({"user": "田中"}, [2, 1]),
        ({"action": "ログイン", "outcome": "failure"}, [1]),
        ({"src": "10.1.0.0/16"}, [2, 0]),
        ({"src": "192.0.2.9", "user": "田中"}, [1]),
        ({"since": "2026-12-02", "until": "2026-12-03"}, [1]),
        ({"until": "2026-12-02T10:00:00Z"}, [0]),
        ({"host": 'web 02" OR host:"db-01'}, []),  # a value, never query syntax
        ({"user": "田中) OR (x"}, []),
    ],
)
def test_field_filters_and_the_time_range(
    accounts: dict[Role, Account],
    filtered: list[int],
    params: dict[str, str],
    expected: list[int],
) -> None:
    r = accounts[Role.AUDITOR].client.get("/search", params={"q": FILTER_MARKER, **params})
    assert r.status_code == 200, r.text[:300]
    assert _found(r.text) == [filtered[i] for i in expected]
    for value in params.values():
        assert f'value="{markupsafe.escape(value)}"' in r.text  # kept in the form, escaped


def test_paging_keeps_the_filters(accounts: dict[Role, Account], filtered: list[int]) -> None:
    c = accounts[Role.AUDITOR].client
    params = {"q": FILTER_MARKER, "user": "田中", "until": "2026-12-04", "limit": "1"}
    r = c.get("/search", params=params)
    assert _found(r.text) == [filtered[2]]
    link = re.search(r'<a rel="next" href="([^"]+)"', r.text)
    assert link
    older = c.get(html.unescape(link.group(1)))
    assert older.status_code == 200
    assert _found(older.text) == [filtered[1]]


@pytest.mark.parametrize(
    "params",
    [
        {"src": "not-an-address"},
        {"src": "10.0.0.0/99"},
        {"host": "web\x0001"},
        {"user": "\x1b[31m"},
        {"until": "tomorrow-ish"},
        {"until": "2026-13-01"},
        {"host": "h" * 201},
        {"action": "   "},  # blank: no filter, not an error
    ],
)
def test_hostile_filters_get_a_400_never_a_500(
    accounts: dict[Role, Account], params: dict[str, str]
) -> None:
    r = accounts[Role.AUDITOR].client.get("/search", params={"q": FILTER_MARKER, **params})
    blank = all(not v.strip() for v in params.values())
    assert r.status_code == (200 if blank else 400), (params, r.text[:300])
