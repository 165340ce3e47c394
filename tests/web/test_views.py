"""What the alerts, incidents and service-desk routes share (:mod:`mamori.web.views`), the
405 ``Allow`` of the whole application (:mod:`mamori.web.app`) and the form size limits of
:func:`mamori.web.auth.form_of`, with the real access layer and a real home over TLS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from mamori import audit
from mamori.access.roles import Role
from mamori.access.sessions import CSRF_FIELD
from mamori.alerts.errors import AlertNotFound, AlertsError, AlertsUnavailable, TransitionRefused
from mamori.alerts.errors import AuditNotRecorded as AlertAuditNotRecorded
from mamori.audit import AuditError
from mamori.incidents.errors import (
    AuditNotRecorded,
    IncidentsError,
    NotFound,
    StoreUnavailable,
    WorkflowRefused,
)
from mamori.service.metrics import Metrics
from mamori.web import WebContext, create_app
from mamori.web.auth import FORM_MAX, LONG_FORM_MAX
from mamori.web.views import BadForm, Failure, Unavailable, api_error, failure_of
from tests.web.conftest import MAX_BODY, FakeSink, FakeSources, FakeTokens
from tests.web.test_alerts_console import new_alert
from tests.web.test_console import Account, Console, accounts, console
from tests.web.test_incidents_console import create, form, new_ticket, problem

__all__ = ["accounts", "console"]  # the fixtures, shared with test_console

# --- one mapping of the services' errors ------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "failure"),
    [
        (BadForm("x"), Failure.INVALID),
        (Unavailable("x"), Failure.UNAVAILABLE),
        (AlertNotFound("x"), Failure.NOT_FOUND),
        (TransitionRefused("x"), Failure.REFUSED),
        (AlertAuditNotRecorded("x"), Failure.AUDIT),
        (AlertsUnavailable("x"), Failure.UNAVAILABLE),
        (AlertsError("x"), Failure.INVALID),
        (NotFound("x"), Failure.NOT_FOUND),
        (WorkflowRefused("x"), Failure.REFUSED),
        (AuditNotRecorded("x"), Failure.AUDIT),
        (StoreUnavailable("x"), Failure.UNAVAILABLE),
        (IncidentsError("x"), Failure.REFUSED),
    ],
)
def test_every_error_of_the_services_has_one_answer(error: Exception, failure: Failure) -> None:
    assert failure_of(error) is failure
    assert isinstance(error, BadForm | Unavailable | AlertsError | IncidentsError)
    answer = api_error(error, "incident")
    assert answer.status == failure.value and answer.hint


def test_every_failure_is_an_http_status() -> None:
    for failure in Failure:
        assert 400 <= failure.value < 600
    assert failure_of(ValueError("not ours")) is None


def test_the_audit_answer_says_the_change_stands() -> None:
    answer = api_error(AuditNotRecorded("stepped, but its audit event was not recorded"), "x")
    assert answer.status == 500 and answer.hint == "the change stands"
    unavailable = api_error(StoreUnavailable("cannot use incidents.db: disk I/O error"), "incident")
    assert (
        unavailable.status == 503 and unavailable.message == "the incident store cannot be used now"
    )
    assert unavailable.hint == "cannot use incidents.db: disk I/O error"


def test_an_alert_change_whose_audit_event_is_lost_is_a_500_page(
    console: Console, accounts: dict[Role, Account], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Like the incidents: the change stands, the page says so with a 500 (it said 200)."""
    alert_id = new_alert(console)
    c = accounts[Role.OPERATOR].client
    token = form(c)[CSRF_FIELD]

    def broken(*args: Any, **kwargs: Any) -> None:
        raise AuditError("the outbox is full", hint="free disk space")

    monkeypatch.setattr(audit, "record", broken)
    r = c.post(f"/alerts/{alert_id}/ack", data={CSRF_FIELD: token, "note": "見ました"})
    monkeypatch.undo()
    assert r.status_code == 500
    assert 'id="problem"' in r.text and "監査イベントを記録できませんでした" in r.text
    assert "確認済み" in c.get(f"/alerts/{alert_id}").text


# --- 405: every method of the path ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/incidents", "GET, POST"),
        ("/api/v1/tickets", "GET, POST"),
        ("/api/v1/events", "POST"),
        ("/incidents/new", "GET, HEAD, POST"),
        ("/tickets/new", "GET, HEAD, POST"),
        ("/incidents/INC-2026-0001/review", "GET, HEAD, POST"),
        ("/account/password", "GET, HEAD, POST"),
        ("/", "GET, HEAD"),
    ],
)
def test_a_405_names_every_method_of_the_path(console: Console, path: str, allow: str) -> None:
    """Regression: Starlette's 405 named only the first matching route's methods."""
    with console.client() as c:
        for accept in ("application/json", "text/html"):
            r = c.request("PATCH", path, headers={"Accept": accept})
            assert r.status_code == 405 and r.headers["allow"] == allow, (path, accept)
        assert (
            c.request("PATCH", path, headers={"Accept": "application/json"}).json()["hint"]
            == f"use {allow}"
        )


_SAMPLES = {"incident_id": "INC-2026-0001", "ticket_id": "TKT-2026-0001", "code": "ja"}


def _sample(path: str) -> str:
    """`path` with a value for each of its parameters."""
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: _SAMPLES.get(m.group(1), "1"), path)


def test_every_path_with_several_routes_allows_all_their_methods(console: Console) -> None:
    """Whatever routes are added later: a path served by a GET route and a POST route (or
    more) says so in its 405."""
    app = create_app(
        WebContext(
            sink=FakeSink(),
            tokens=FakeTokens({}),
            source_check=FakeSources(),
            metrics=Metrics(),
            max_body_bytes=MAX_BODY,
            home=console.home,
        )
    )
    by_path: dict[str, set[str]] = {}
    for route in app.routes:
        if isinstance(route, Route) and route.methods:
            by_path.setdefault(route.path, set()).update(route.methods)
    shared = {p: m for p, m in by_path.items() if {"GET", "POST"} <= m}
    assert {"/api/v1/incidents", "/api/v1/tickets", "/incidents/new", "/tickets/new"} <= set(shared)
    with console.client() as c:
        for path, methods in shared.items():
            r = c.request("PATCH", _sample(path), headers={"Accept": "application/json"})
            assert r.status_code == 405, path
            assert set(r.headers["allow"].split(", ")) >= methods, (path, r.headers["allow"])


# --- form sizes -------------------------------------------------------------------------------

LONG = "個人情報を含むメールが誤って外部に送信された。" * 300  # 6,900 characters, ~62 KB encoded


def test_the_limits() -> None:
    assert FORM_MAX == 16 * 1024 and LONG_FORM_MAX == 256 * 1024
    # a field of the API's 20,000 Japanese characters fits in a form
    assert len(str(httpx.QueryParams({"d": "あ" * 20_000})).encode()) < LONG_FORM_MAX
    encoded = len(str(httpx.QueryParams({"description": LONG})).encode())
    assert FORM_MAX < encoded < LONG_FORM_MAX


def test_incident_and_ticket_forms_take_long_japanese_text(
    accounts: dict[Role, Account],
) -> None:
    """Regression: a description or CSIRT text of a few thousand Japanese characters was
    refused with 413 (the 16 KiB of every form); the API took 20,000 characters."""
    c = accounts[Role.OPERATOR].client
    iid = create(c, "長い説明", description=LONG)
    page = c.get(f"/incidents/{iid}").text
    assert LONG in page
    r = c.post(f"/incidents/{iid}/csirt", data=form(c, kind="first", text=LONG, preview=""))
    assert r.status_code == 200 and LONG[:200] in r.text.split('id="csirt-preview"')[1]
    tid = new_ticket(c, "長い問い合わせ", description=LONG)
    r = c.post(f"/tickets/{tid}/comment", data=form(c, text=LONG))
    assert r.status_code == 303 and LONG in c.get(f"/tickets/{tid}").text


def test_a_form_beyond_its_limit_is_a_413(console: Console, accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    huge = "あ" * (LONG_FORM_MAX // 9 + 100)
    r = c.post("/incidents/new", data=form(c, title="大きすぎる", description=huge))
    assert r.status_code == 413
    # An alert's note of 2,000 Japanese characters (~18 KB encoded) is taken.
    alert_id = new_alert(console)
    r = c.post(f"/alerts/{alert_id}/ack", data=form(c, note="あ" * 2000))
    assert r.status_code == 303, r.text
    # Everywhere else a form keeps its 16 KiB: an account's password.
    r = c.post("/account/password", data=form(c, current=LONG, new="x", confirm="x"))
    assert r.status_code == 413


def test_a_refused_long_form_keeps_what_was_typed(accounts: dict[Role, Account]) -> None:
    c = accounts[Role.OPERATOR].client
    r = c.post("/incidents/new", data=form(c, title="", description=LONG))
    assert r.status_code == 409 and "needs a title" in problem(r.text) and LONG in r.text


# --- the documentation ------------------------------------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_http_api_md_lists_every_alert_incident_and_ticket_route(console: Console) -> None:
    text = (DOCS / "http-api.md").read_text(encoding="utf-8")
    with console.client() as c:
        paths = c.get("/api/v1/openapi.json").json()["paths"]
    listed = 0
    for path, operations in paths.items():
        if not path.startswith(("/api/v1/alerts", "/api/v1/incidents", "/api/v1/tickets")):
            continue
        for method in operations:
            shown = re.sub(r"\{\w+\}", "{id}", path)
            row = f"| `{method.upper()}` `{shown}` |"
            assert row in text, row
            listed += 1
    assert listed == 14
