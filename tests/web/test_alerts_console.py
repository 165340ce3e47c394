"""The console's alerts with the real access layer and a real home over TLS: the list (counts,
filters, paging), one alert (events, incident, history, forms), acknowledging and closing
through the pages and /api/v1/alerts, every route × every role, CSRF, and the OpenAPI."""

from __future__ import annotations

import itertools
import re

import httpx
import pytest

from mamori.access import add_token
from mamori.access.roles import ROLES, Permission, Role
from mamori.access.sessions import CSRF_FIELD, CSRF_HEADER
from mamori.alerts import notifying
from mamori.alerts.store import AlertStore
from tests.alerts.helpers import detection, named
from tests.web.test_console import Account, Console, accounts, console, csrf_of

__all__ = ["accounts", "console"]  # the fixtures, shared with test_console

_hosts = itertools.count()


def new_alert(c: Console, severity: str = "high", events: tuple[int, ...] = (0, 1)) -> int:
    """A new open alert of its own (a host no other test uses); not notified."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notifying, "notify_alert", lambda *args: None)
        with AlertStore.open(c.home) as store:
            d = detection(host=f"host-{next(_hosts)}", severity=severity, events=events)
            (change,) = store.ingest([d])
    return int(change.alert)


def csrf(c: httpx.Client) -> str:
    return csrf_of(c.get("/").text)


# --- who may do what -------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("path", ["/alerts", "/alerts?state=open&severity=high", "/alerts/{id}"])
def test_every_alerts_page_x_every_role(
    console: Console, accounts: dict[Role, Account], role: Role, path: str
) -> None:
    alert_id = new_alert(console)
    r = accounts[role].client.get(path.format(id=alert_id))
    expected = 200 if Permission.ALERTS_READ in ROLES[role] else 403
    assert r.status_code == expected, (role, path, r.status_code)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", ["ack", "close"])
def test_every_alerts_post_x_every_role(
    console: Console, accounts: dict[Role, Account], role: Role, action: str
) -> None:
    alert_id = new_alert(console)
    c = accounts[role].client
    r = c.post(f"/alerts/{alert_id}/{action}", data={CSRF_FIELD: csrf(c), "reason": "done"})
    if Permission.ALERTS_MANAGE in ROLES[role]:
        assert r.status_code == 303, (role, action, r.text[:300])
    else:
        assert r.status_code == 403, (role, action)
    api = c.post(
        f"/api/v1/alerts/{new_alert(console)}/{action}",
        json={"reason": "done"},
        headers={CSRF_HEADER: csrf(c)},
    )
    expected = 200 if Permission.ALERTS_MANAGE in ROLES[role] else 403
    assert api.status_code == expected, (role, action, api.text[:300])
    assert "error" in api.json() or api.json()["state"] in {"acknowledged", "closed"}


@pytest.mark.parametrize("action", ["ack", "close"])
def test_every_alerts_post_needs_the_csrf_token(
    console: Console, accounts: dict[Role, Account], action: str
) -> None:
    alert_id = new_alert(console)
    c = accounts[Role.OPERATOR].client
    for data in ({"reason": "x"}, {"reason": "x", CSRF_FIELD: "forged"}):
        assert c.post(f"/alerts/{alert_id}/{action}", data=data).status_code == 403
    for headers in ({}, {CSRF_HEADER: "forged"}):
        r = c.post(f"/api/v1/alerts/{alert_id}/{action}", json={"reason": "x"}, headers=headers)
        assert r.status_code == 403 and "CSRF" in r.json()["error"]
    with AlertStore.open(console.home) as store:
        assert store.get(alert_id).state == "open"


def test_nobody_signed_in(console: Console) -> None:
    alert_id = new_alert(console)
    with console.client() as c:
        for path in ("/alerts", f"/alerts/{alert_id}"):
            r = c.get(path)
            assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=")
        api = c.get("/api/v1/alerts")
        assert api.status_code == 401 and api.headers["www-authenticate"].startswith("Bearer")
        assert c.post(f"/api/v1/alerts/{alert_id}/ack", json={}).status_code == 401


def test_a_read_token_reads_alerts_but_changes_nothing(console: Console) -> None:
    token = add_token(console.home, "alerts-automation", "read")
    with console.client() as c:
        auth = {"Authorization": f"Bearer {token}"}
        r = c.get("/api/v1/alerts", headers=auth)
        assert r.status_code == 200, r.text
        assert c.post("/api/v1/alerts/1/ack", json={}, headers=auth).status_code == 403


def test_the_nav_links_alerts_to_roles_that_may(accounts: dict[Role, Account]) -> None:
    for role, account in accounts.items():
        page = account.client.get("/").text
        assert ('href="/alerts"' in page) == (Permission.ALERTS_READ in ROLES[role]), role


# --- the list --------------------------------------------------------------------------------


def test_the_list_counts_filters_and_is_japanese_first(
    console: Console, accounts: dict[Role, Account]
) -> None:
    crit = new_alert(console, "critical")
    low = new_alert(console, "low")
    c = accounts[Role.AUDITOR].client
    page = c.get("/alerts")
    assert page.status_code == 200 and "<h1>アラート</h1>" in page.text
    counts = page.text.split('id="open-counts"')[1].split("</dl>")[0]
    assert "緊急" in counts and 'href="/alerts?state=open&amp;severity=critical"' in counts
    rows = page.text.split('id="alerts"')[1]  # newest first
    assert rows.index(f'href="/alerts/{low}"') < rows.index(f'href="/alerts/{crit}"')
    only = c.get("/alerts", params={"state": "open", "severity": "critical"}).text
    listed = only.split('id="alerts"')[1]
    assert f'href="/alerts/{crit}"' in listed and f'href="/alerts/{low}"' not in listed
    assert 'value="critical" selected' in only
    english = c.get("/alerts", headers={"Accept-Language": "en"}).text
    assert "<h1>Alerts</h1>" in english and "Critical" in english
    for bad in ({"state": "new"}, {"severity": "urgent"}, {"before": "0"}):
        assert c.get("/alerts", params=bad).status_code == 400


def test_the_list_pages_with_before(console: Console, accounts: dict[Role, Account]) -> None:
    for _ in range(51):
        newest = new_alert(console, "informational")
    c = accounts[Role.AUDITOR].client
    first = c.get("/alerts", params={"severity": "informational"}).text
    found = re.search(r'rel="next" href="([^"]+)"', first)
    assert found and f'href="/alerts/{newest}"' in first
    second = c.get(found.group(1).replace("&amp;", "&")).text
    assert f'href="/alerts/{newest - 50}"' in second
    assert f'href="/alerts/{newest}"' not in second.split('id="alerts"')[1]


# --- one alert -------------------------------------------------------------------------------


def test_an_alert_page_shows_rule_events_history_and_forms(
    console: Console, accounts: dict[Role, Account]
) -> None:
    alert_id = new_alert(console, "critical", events=(console.first_index, console.first_index + 1))
    operator = accounts[Role.OPERATOR].client.get(f"/alerts/{alert_id}").text
    assert "SSH brute force" in operator and "<code>rule-ssh</code>" in operator
    assert "<code>SEC-5</code>" in operator and 'id="severity">緊急' in operator
    assert f'href="/events/{console.first_index + 1}"' in operator
    assert 'id="ack"' in operator and 'id="close"' in operator
    history = operator.split('id="history"')[1]
    assert "発生" in history and "mamori" in history
    auditor = accounts[Role.AUDITOR].client.get(f"/alerts/{alert_id}").text
    assert 'id="ack"' not in auditor and 'id="close"' not in auditor
    event_page = accounts[Role.OPERATOR].client.get(f"/events/{console.first_index + 1}")
    assert event_page.status_code == 200
    assert accounts[Role.OPERATOR].client.get("/alerts/999999").status_code == 404


def test_a_linked_alert_shows_its_incident(console: Console, accounts: dict[Role, Account]) -> None:
    alert_id = new_alert(console)
    with AlertStore.open(console.home) as store:
        store.link_incident(alert_id, "INC-2026-0007", "csirt-lead")
    page = accounts[Role.CSIRT].client.get(f"/alerts/{alert_id}").text
    assert 'href="/incidents/INC-2026-0007"' in page
    assert "インシデントに関連付け" in page.split('id="history"')[1]


# --- acknowledging and closing through the pages ---------------------------------------------


def test_acknowledge_then_close_through_the_pages(
    console: Console, accounts: dict[Role, Account]
) -> None:
    alert_id = new_alert(console)
    account = accounts[Role.OPERATOR]
    c = account.client
    token = csrf(c)
    r = c.post(f"/alerts/{alert_id}/ack", data={CSRF_FIELD: token, "note": "調査中"})
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{alert_id}?done=acknowledged"
    page = c.get(r.headers["location"]).text
    assert 'id="done"' in page and 'id="state">確認済み' in page and "調査中" in page
    assert 'id="ack"' not in page and 'id="close"' in page
    again = c.post(f"/alerts/{alert_id}/ack", data={CSRF_FIELD: token})
    assert again.status_code == 409 and 'id="problem"' in again.text
    no_reason = c.post(f"/alerts/{alert_id}/close", data={CSRF_FIELD: token, "reason": "  "})
    assert no_reason.status_code == 400 and "理由を入力してください" in no_reason.text
    done = c.post(f"/alerts/{alert_id}/close", data={CSRF_FIELD: token, "reason": "誤検知"})
    assert done.status_code == 303
    page = c.get(done.headers["location"]).text
    assert 'id="state">クローズ' in page and "誤検知" in page and 'id="close"' not in page
    ack = [f for f in named(console.home, "alert.acknowledged") if f["id"] == alert_id]
    closed = [f for f in named(console.home, "alert.closed") if f["id"] == alert_id]
    assert ack[0]["actor"] == account.name and ack[0]["note"] == "調査中"
    assert closed[0]["actor"] == account.name and closed[0]["reason"] == "誤検知"


def test_a_post_about_no_alert_is_a_404(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    assert c.post("/alerts/999999/ack", data={CSRF_FIELD: csrf(c)}).status_code == 404


# --- the JSON API ----------------------------------------------------------------------------


def test_the_api(console: Console, accounts: dict[Role, Account]) -> None:
    alert_id = new_alert(console, "medium")
    c = accounts[Role.OPERATOR].client
    listed = c.get("/api/v1/alerts", params={"state": "open", "severity": "medium", "limit": 1})
    assert listed.status_code == 200
    body = listed.json()
    assert [a["id"] for a in body["alerts"]] == [alert_id]
    assert body["open_counts"]["medium"] >= 1 and "next_before" in body
    one = c.get(f"/api/v1/alerts/{alert_id}").json()
    assert one["events"] == [0, 1] and one["history"][0]["action"] == "raised"
    assert one["raised_at"].endswith("Z")
    missing = c.get("/api/v1/alerts/999999")
    assert missing.status_code == 404 and set(missing.json()) == {"error", "hint"}
    assert c.get("/api/v1/alerts", params={"state": "new"}).status_code == 400
    headers = {CSRF_HEADER: csrf(c)}
    ack = c.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "api"}, headers=headers)
    assert ack.status_code == 200 and ack.json()["acknowledged_by"] == "matrix-operator"
    conflict = c.post(f"/api/v1/alerts/{alert_id}/ack", headers=headers)
    assert conflict.status_code == 409 and "acknowledged" in conflict.json()["error"]
    bad = c.post(f"/api/v1/alerts/{alert_id}/close", json={"reason": ""}, headers=headers)
    assert bad.status_code == 400
    blank = c.post(f"/api/v1/alerts/{alert_id}/close", json={"reason": "  "}, headers=headers)
    assert blank.status_code == 400 and "reason" in blank.json()["error"]
    closed = c.post(f"/api/v1/alerts/{alert_id}/close", json={"reason": "ok"}, headers=headers)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    final = c.post(f"/api/v1/alerts/{alert_id}/close", json={"reason": "ok"}, headers=headers)
    assert final.status_code == 409 and "final" in final.json()["error"]


def test_an_auditor_reads_but_may_not_acknowledge(
    console: Console, accounts: dict[Role, Account]
) -> None:
    alert_id = new_alert(console)
    c = accounts[Role.AUDITOR].client
    assert c.get(f"/api/v1/alerts/{alert_id}").status_code == 200
    r = c.post(f"/api/v1/alerts/{alert_id}/ack", json={}, headers={CSRF_HEADER: csrf(c)})
    assert r.status_code == 403 and "alerts.manage" in r.json()["error"]
    page = c.post(f"/alerts/{alert_id}/ack", data={CSRF_FIELD: csrf(c)})
    assert page.status_code == 403


def test_the_openapi_describes_the_alerts_api(console: Console) -> None:
    with console.client() as c:
        spec = c.get("/api/v1/openapi.json").json()
    paths = spec["paths"]
    assert set(paths["/api/v1/alerts"]) == {"get"}
    assert set(paths["/api/v1/alerts/{alert_id}/ack"]) == {"post"}
    listing = paths["/api/v1/alerts"]["get"]["responses"]
    assert listing["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/AlertListModel"
    )
    assert listing["403"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorModel")
    close = paths["/api/v1/alerts/{alert_id}/close"]["post"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(close["responses"])
    assert close["requestBody"]["required"] is True
    schemas = spec["components"]["schemas"]
    assert {"AlertModel", "AlertDetailModel", "HistoryModel", "CloseBody"} <= set(schemas)
