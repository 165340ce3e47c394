"""The vulnerability pages with the real access layer and a real home over TLS: systems and
their inventories, findings with their decision history, triage and fixes through the forms,
the end-of-life calendar; every page × every role, CSRF, escaping, languages, 404s."""

from __future__ import annotations

import datetime as dt
import html
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import pytest

from mamori.access import add_token
from mamori.access.roles import ROLES, SCOPE_PERMISSIONS, Permission, Role
from mamori.access.sessions import CSRF_FIELD
from mamori.home import Home
from mamori.vuln import decisionstore, eol, eolplans
from mamori.vuln.components import Component
from mamori.vuln.decisions import ObservedFinding, State
from mamori.vuln.inventory import store as inventories
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.store import Store
from tests.web.test_console import Account, Console, accounts, console, csrf_of

__all__ = ["accounts", "console"]  # the fixtures, shared with test_console

SYSTEM = "web1"
HOSTILE = "<img src=x onerror=alert(1)>"
"""A component name no page may emit as markup."""
TODAY = dt.datetime.now(ZoneInfo("Asia/Tokyo")).date()
"""Today in the home's [calendar] zone (the default), as the pages count days."""


def _c(name: str, version: str, ecosystem: str = "PyPI", purl: str = "") -> Component:
    return Component(name, version, ecosystem, purl or f"pkg:pypi/{name}@{version}")


def _finding(name: str, vuln: str, severity: str, eco: str = "PyPI") -> ObservedFinding:
    return ObservedFinding(eco, name, "1.0", f"pkg:generic/{name}@1.0", vuln, (), severity, ())


def _seed(home: Home) -> None:
    """Two inventories of web1 (django upgraded between them, more than a page of padding
    packages), findings detected 60 days ago (so the critical ones are overdue), and an
    end-of-life catalogue with one ended and one ending Django cycle."""
    old = [_c("django", "3.2.25"), _c("requests", "2.31.0")]
    new = [_c("django", "5.2.1"), _c("requests", "2.31.0"), _c(HOSTILE, "0.1", "", "x")]
    new += [_c(f"pad{i:03d}", "1.0") for i in range(120)]
    new += [_c("@scope/left-pad", "1.3.0", "npm", "pkg:npm/%40scope/left-pad@1.3.0")]
    start = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=2)
    inventories.save(home, Inventory(SYSTEM, start, tuple(old)))
    inventories.save(home, Inventory(SYSTEM, start + dt.timedelta(days=1), tuple(new)))
    inventories.save(home, Inventory("db1", start, (_c("django", "3.2.25"),)))
    findings = [
        _finding("django", "CVE-2024-0001", "critical"),
        _finding("requests", "CVE-2024-0002", "medium"),
        _finding(HOSTILE, "GHSA-xxxx-yyyy-zzzz", "high"),
        _finding("@scope/left-pad", "CVE-2024-0003", "low", "npm"),
    ] + [_finding(f"pad{i:03d}", f"CVE-2024-1{i:03d}", "high") for i in range(12)]
    decisionstore.observe(home, SYSTEM, findings, dt.datetime.now(dt.UTC) - dt.timedelta(days=60))
    cycles = (
        eol.Cycle("5.2", eol=TODAY + dt.timedelta(days=40), eoas=TODAY - dt.timedelta(days=1)),
        eol.Cycle("3.2", eol=dt.date(2024, 4, 1)),
    )
    django = eol.Product("django", "Django", "framework", ("pkg:pypi/django",), (), cycles)
    eol.save(home.root, eol.Catalogue({"django": django}, "0" * 64, TODAY, "test", "now"))


@pytest.fixture(scope="module")
def seeded(console: Console) -> Console:
    _seed(console.home)
    return console


def path_of(name: str, vuln: str, eco: str = "PyPI", system: str = SYSTEM) -> str:
    return f"/vuln/findings/{system}/{eco}/{quote(name, safe='@/')}/{vuln}"


PAD = path_of("pad000", "CVE-2024-1000")


def english(c: httpx.Client, path: str) -> str:
    """The page at `path` with the language cookie set to English."""
    c.cookies.set("lang", "en")
    try:
        return c.get(path).text
    finally:
        c.cookies.delete("lang")


def csrf(c: httpx.Client) -> str:
    return csrf_of(c.get("/").text)


def state_of(home: Home, name: str, vuln: str, eco: str = "PyPI") -> State:
    return State(decisionstore.current_states(home, SYSTEM)[(eco, name, vuln)])


# --- who may do what -------------------------------------------------------------------------

PAGES = [
    "/vuln",
    f"/vuln/systems/{SYSTEM}",
    f"/vuln/systems/{SYSTEM}?ecosystem=PyPI&name=dj&page=1",
    "/vuln/findings",
    f"/vuln/findings?system={SYSTEM}&state=open&severity=high",
    PAD,
    "/vuln/eol",
]


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", PAGES)
def test_every_vuln_page_x_every_role(
    seeded: Console, accounts: dict[Role, Account], role: Role, path: str
) -> None:
    r = accounts[role].client.get(path)
    expected = 200 if Permission.VULN_READ in ROLES[role] else 403
    assert r.status_code == expected, (role, path, r.status_code, r.text[:300])


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ["triage", "fixed"])
def test_every_vuln_post_x_every_role(
    seeded: Console, accounts: dict[Role, Account], role: Role, action: str
) -> None:
    c = accounts[role].client
    target = path_of("pad001", "CVE-2024-1001")
    data = {CSRF_FIELD: csrf(c), "status": "under_investigation", "version": "x", "date": ""}
    r = c.post(f"{target}/{'triage' if action == 'triage' else 'fixed'}", data=data)
    if Permission.VULN_MANAGE in ROLES[role]:
        assert r.status_code in {303, 400}, (role, action, r.text[:300])  # fixed: no date
    else:
        assert r.status_code == 403, (role, action)


def test_every_vuln_post_needs_the_csrf_token(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.OPERATOR].client
    for action in ("triage", "fixed"):
        for extra in ({}, {CSRF_FIELD: "forged"}):
            data = {"status": "affected", "statement": "x", **extra}
            assert c.post(f"{PAD}/{action}", data=data).status_code == 403
    assert state_of(seeded.home, "pad000", "CVE-2024-1000") is State.DETECTED


def test_nobody_signed_in_and_read_tokens(seeded: Console) -> None:
    token = add_token(seeded.home, "vuln-automation", "read")
    assert Permission.VULN_READ in SCOPE_PERMISSIONS["read"]
    with seeded.client() as c:
        for path in PAGES:
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
            assert c.get(path, headers={"Authorization": f"Bearer {token}"}).status_code == 200
        r = c.post(
            f"{PAD}/triage",
            data={"status": "affected"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 403


def test_the_nav_links_vuln_to_roles_that_may(accounts: dict[Role, Account]) -> None:
    for role, account in accounts.items():
        page = account.client.get("/").text
        assert ('href="/vuln"' in page) == (Permission.VULN_READ in ROLES[role]), role


# --- the pages -------------------------------------------------------------------------------


def test_the_overview_is_japanese_first_and_says_when_there_is_no_database(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.AUDITOR].client
    page = c.get("/vuln").text
    assert "<h1>脆弱性</h1>" in page and 'data-state="missing"' in page
    rows = page.split('id="systems"')[1]
    assert 'href="/vuln/systems/web1"' in rows and 'href="/vuln/systems/db1"' in rows
    web1 = rows.split('href="/vuln/systems/web1"')[1].split("</tr>")[0]
    assert "緊急</span> 1" in web1 and "高</span> 13" in web1  # 12 pads and the hostile one
    assert 'state=overdue">14</a>' in web1  # critical (7 days) and high (30 days) are late
    assert f'<dd id="eol-date">{TODAY.isoformat()}</dd>' in page
    Store.open(seeded.home).close()  # an empty database: stale, and said so
    page = english(c, "/vuln")
    assert "<h1>Vulnerabilities</h1>" in page and 'data-state="stale"' in page
    assert "The advisory database is stale" in page


def test_a_system_its_components_paged_and_filtered_and_its_diff(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.AGENCY].client
    page = c.get(f"/vuln/systems/{SYSTEM}").text
    assert "該当するコンポーネント 124 件" in page and "1 / 2 ページ" in page
    assert 'rel="next"' in page
    diff = page.split('id="changes"')[1]
    assert "更新" in diff and "3.2.25" in diff and "5.2.1" in diff and "pad000" in diff
    stamps = inventories.stamps(seeded.home, SYSTEM)
    assert f'href="/vuln/systems/{SYSTEM}?at={stamps[0]}"' in page
    first = c.get(f"/vuln/systems/{SYSTEM}", params={"at": stamps[0]}).text
    assert 'id="no-previous"' in first and "3.2.25" in first
    only = c.get(f"/vuln/systems/{SYSTEM}", params={"ecosystem": "npm"}).text
    assert (
        "@scope/left-pad" in only
        and "pad001" not in only.split('id="components"')[1].split("</table>")[0]
    )
    named = c.get(f"/vuln/systems/{SYSTEM}", params={"name": "DJANGO"}).text
    assert "該当するコンポーネント 1 件" in named


def test_findings_list_filters_and_flags_overdue(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    c = accounts[Role.AUDITOR].client
    page = c.get("/vuln/findings", params={"system": SYSTEM, "severity": "critical"}).text
    rows = page.split('id="findings"')[1]
    assert "CVE-2024-0001" in rows and "CVE-2024-0002" not in rows
    assert 'class="overdue"' in rows and "期限超過" in rows
    medium = c.get("/vuln/findings", params={"severity": "medium", "state": "overdue"}).text
    assert 'id="no-findings"' in medium  # 90 days: not late yet
    assert c.get("/vuln/findings", params={"state": "bogus"}).status_code == 400


def test_hostile_names_are_escaped(seeded: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    for path in (
        "/vuln/findings",
        f"/vuln/systems/{SYSTEM}?ecosystem=-",
        path_of(HOSTILE, "GHSA-xxxx-yyyy-zzzz"),
        "/vuln/eol",
    ):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "<img src=x" not in r.text, path
        assert html.escape(HOSTILE, quote=False) in r.text, path


@pytest.mark.parametrize(
    "path",
    [
        "/vuln/systems/no-such-system",
        "/vuln/systems/.hidden",
        "/vuln/systems/bad%20name",
        "/vuln/systems/web1?at=1999-01-01T000000Z",
        "/vuln/findings/web1/PyPI/django/CVE-0000-0000",
        "/vuln/findings/nosuch/PyPI/django/CVE-2024-0001",
        "/vuln/findings/..%2F..%2Fetc/PyPI/django/CVE-2024-0001",
        "/vuln/findings/web1/PyPI/a%00b/CVE-2024-0001",
        "/vuln/findings?system=nosuch",
        "/vuln/eol?system=nosuch",
    ],
)
def test_bad_path_parameters_are_404(
    seeded: Console, accounts: dict[Role, Account], path: str
) -> None:
    r = accounts[Role.AUDITOR].client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:300])


def test_triage_and_fix_through_the_forms(seeded: Console, accounts: dict[Role, Account]) -> None:
    op = accounts[Role.OPERATOR].client
    target = path_of("@scope/left-pad", "CVE-2024-0003", "npm")
    page = op.get(target).text
    assert 'id="triage"' in page and 'id="fix"' in page and 'id="history"' in page
    token = csrf_of(page)
    refused = op.post(f"{target}/triage", data={CSRF_FIELD: token, "status": "affected"})
    assert refused.status_code == 409
    assert "判断は記録されませんでした" in refused.text and "action statement" in refused.text
    bad = op.post(f"{target}/triage", data={CSRF_FIELD: token, "status": "fixed"})
    assert bad.status_code == 400
    r = op.post(
        f"{target}/triage",
        data={
            CSRF_FIELD: token,
            "status": "not_affected",
            "justification": "vulnerable_code_not_in_execute_path",
            "statement": "the padding function is never called",
        },
    )
    assert r.status_code == 303, r.text[:500]
    page = op.get(r.headers["location"]).text
    assert 'id="done"' in page and 'data-state="not_affected"' in page
    history = page.split('id="history"')[1]
    assert "matrix-operator" in history and "脆弱なコードが実行されない" in history
    assert state_of(seeded.home, "@scope/left-pad", "CVE-2024-0003", "npm") is State.NOT_AFFECTED
    assert 'id="fix"' not in page  # not_affected has nothing to fix
    # the auditor reads it, without forms
    seen = accounts[Role.AUDITOR].client.get(target).text
    assert 'data-state="not_affected"' in seen and 'id="triage"' not in seen
    # a fix
    target = path_of("requests", "CVE-2024-0002")
    late = (TODAY + dt.timedelta(days=5)).isoformat()
    r = op.post(f"{target}/fixed", data={CSRF_FIELD: token, "version": "2.32.0", "date": late})
    assert r.status_code == 409 and "in the future" in r.text
    assert 'value="2.32.0"' in r.text  # what was typed is kept
    r = op.post(f"{target}/fixed", data={CSRF_FIELD: token, "version": "2.32.0", "date": "x"})
    assert r.status_code == 400
    r = op.post(
        f"{target}/fixed",
        data={CSRF_FIELD: token, "version": "2.32.0", "date": TODAY.isoformat(), "approver": ""},
    )
    assert r.status_code == 303
    page = op.get(r.headers["location"]).text
    assert 'data-state="fixed"' in page and "matrix-operator" in page and "2.32.0" in page
    assert 'id="triage"' not in page and 'id="fix"' not in page  # the next scan closes it


def test_an_unknown_finding_cannot_be_triaged(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    op = accounts[Role.OPERATOR].client
    data = {CSRF_FIELD: csrf(op), "status": "under_investigation"}
    assert op.post(path_of("django", "CVE-1999-0000") + "/triage", data=data).status_code == 404


def test_the_eol_calendar(seeded: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.AUDITOR].client
    page = c.get("/vuln/eol").text
    assert "<h1>サポート終了カレンダー</h1>" in page and "180 日" in page
    ended = page.split('id="month-2024-04"')[1].split("</section>")[0]
    assert "Django 3.2" in ended and "eol-ended" in ended and "db1" in ended
    month = f"{TODAY + dt.timedelta(days=40):%Y-%m}"
    ending = page.split(f'id="month-{month}"')[1].split("</section>")[0]
    assert "Django 5.2" in ending and "eol-ending" in ending and "あと 40 日" in ending
    assert page.index("month-2024-04") < page.index(f"month-{month}")
    assert 'id="not-tracked"' in page and "requests" in page
    one = english(c, "/vuln/eol?system=db1")
    assert "Django 3.2" in one and "Django 5.2" not in one and "Ended" in one


def test_the_eol_calendar_shows_each_systems_plan(
    seeded: Console, accounts: dict[Role, Account]
) -> None:
    # SEC-3: the plan recorded with `mamori vuln eol plan` beside the cycle it is for.
    at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    eolplans.set_plan(seeded.home, eolplans.Subject("db1", "django", "3.2"),
                      "5.2 へ更新する", due=dt.date(2026, 9, 30), actor="yamada", at=at)  # fmt: skip
    page = accounts[Role.AUDITOR].client.get("/vuln/eol").text
    ended = page.split('id="month-2024-04"')[1].split("</section>")[0]
    assert "<th>対応方針</th>" in page
    assert "db1: 5.2 へ更新する（期限 2026-09-30）" in ended
    month = f"{TODAY + dt.timedelta(days=40):%Y-%m}"
    ending = page.split(f'id="month-{month}"')[1].split("</section>")[0]
    assert "未記入" in ending and "5.2 へ更新する" not in ending
