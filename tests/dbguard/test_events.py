"""The guard's ledger events: the ECS fields the built-in rules read, no literal values, every
builder's output canonical JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
import pytest

from mamori.dbguard import events as ev
from mamori.dbguard.facts import Decision, Reason, Result, Session, Statement, Verdict
from mamori.dbguard.guard import basic_analysis
from mamori.detect.calendar import BusinessCalendar
from mamori.detect.catalogue import load_builtin
from mamori.detect.engine import build_engine, event_time
from mamori.detect.enrich import Enricher
from mamori.ledger.canonical import canonical

SESSION = Session(
    "abcd",
    "residents",
    "app_reader",
    application="web",
    client_ip="10.0.2.15",
    client_port=50000,
    tls=True,
    tls_client="CN=web01",
)
MONDAY_10_JST = dt.datetime(2026, 6, 15, 1, 0, tzinfo=dt.UTC).timestamp()
SATURDAY_23_JST = dt.datetime(2026, 6, 13, 14, 0, tzinfo=dt.UTC).timestamp()
MANY_ROWS = "06802b68-b359-4b52-a4bb-a045cd88aefe"
OUTSIDE_HOURS = "5663b7c8-8cf0-4fa1-af7c-0bf502ea0d09"


def query(
    sql: str = "SELECT * FROM residents WHERE ward = 'north' AND age > 70",
    *,
    at: float = MONDAY_10_JST,
    rows: int = 12,
    session: Session = SESSION,
    result: Result | None = None,
    log_text: bool = False,
    decision: Decision | None = None,
) -> dict[str, Any]:
    stmt = Statement(session, sql, "simple", at)
    data = ev.statement_event(
        stmt,
        result or Result(rows_returned=rows, command_tag=f"SELECT {rows}", duration_s=0.0123),
        basic_analysis(sql),
        decision or Decision(),
        proxy="residents",
        operation="SELECT",
        log_text=log_text,
    )
    doc: dict[str, Any] = orjson.loads(data)
    assert canonical(doc) == data
    return doc


def test_statement_event_fields() -> None:
    doc = query()
    assert doc["event"] == {
        "kind": "event",
        "category": ["database"],
        "type": ["access"],
        "action": "query",
        "module": "dbguard",
        "dataset": "mamori.dbguard",
        "outcome": "success",
        "duration": 12_300_000,
    }
    assert doc["db"]["system"] == "postgresql"
    assert (doc["db"]["name"], doc["db"]["user"], doc["db"]["operation"]) == (
        "residents",
        "app_reader",
        "SELECT",
    )
    assert doc["db"]["query"]["text"] == "SELECT * FROM residents WHERE ward = $1 AND age > $2"
    assert len(doc["db"]["query"]["fingerprint"]) == 16
    assert doc["db"]["response"] == {
        "returned_rows": 12,
        "affected_rows": 0,
        "command_tag": "SELECT 12",
    }
    assert doc["user"]["name"] == "app_reader"
    assert doc["source"] == {"ip": "10.0.2.15", "port": 50000}
    assert doc["tls"] == {"established": True, "client": {"subject": "CN=web01"}}
    g = doc["mamori"]["dbguard"]
    assert g["session"] == "abcd" and g["application"] == "web" and g["proxy"] == "residents"
    assert g["decision"] == {"verdict": "allow", "reasons": []}
    assert g["kinds"] == ["select"] and g["statements_in_message"] == 1
    assert doc["@timestamp"] == "2026-06-15T01:00:00.000000Z"
    assert "north" not in str(doc)


def test_verified_end_user_is_the_user() -> None:
    verified = query(session=Session("s", "d", "app", end_user="alice", end_user_verified=True))
    assert verified["user"]["name"] == "alice"
    claimed = query(session=Session("s", "d", "app", end_user="mallory"))
    assert claimed["user"]["name"] == "app"
    assert claimed["mamori"]["dbguard"]["end_user"] == "mallory"
    assert claimed["mamori"]["dbguard"]["end_user_verified"] is False


def test_failures_mask_values_unless_asked() -> None:
    failed = Result(
        ok=False, sqlstate="22P02", error='invalid input syntax for type integer: "4x2"'
    )
    doc = query("SELECT '4x2'::int", result=failed)
    g = doc["mamori"]["dbguard"]
    assert doc["event"]["outcome"] == "failure"
    assert g["sqlstate"] == "22P02"
    assert g["error"] == 'invalid input syntax for type integer: "?"'
    kept = query("SELECT '4x2'::int", result=failed, log_text=True)
    assert kept["mamori"]["dbguard"]["error"].endswith('"4x2"')
    assert kept["db"]["query"]["text"] == "SELECT '4x2'::int"
    assert ev.mask_error('relation "residents" does not exist') == (
        'relation "residents" does not exist'
    )


def test_unreadable_and_long_text() -> None:
    doc = query("SELECT 'unterminated")
    assert doc["db"]["query"]["text"].startswith("(statement of 20 characters")
    assert "unterminated" not in doc["db"]["query"]["text"]
    long = query("SELECT " + " + ".join(["1"] * 20000), log_text=True)
    assert doc["mamori"]["dbguard"]["parse_error"]
    assert long["mamori"]["dbguard"]["text_truncated"] is True
    assert len(long["db"]["query"]["text"]) == ev.MAX_TEXT + 1
    odd = query("SELECT 1", session=Session("s", "d\udcff", "app"))
    assert odd["db"]["name"] == "d\ufffd"


def _matched(doc: dict[str, Any]) -> set[str]:
    built = build_engine(load_builtin(), match_logsource=True)
    enriched = Enricher(BusinessCalendar(), ()).enrich(doc, event_time(doc))
    return {r.id for r in built.engine.matching(enriched)}


def test_the_built_in_database_rules_read_these_events() -> None:
    assert _matched(query(rows=12)) == set()
    assert MANY_ROWS in _matched(query(rows=10_000))
    assert OUTSIDE_HOURS in _matched(query(at=SATURDAY_23_JST))


def test_every_builder_is_canonical_and_tagged() -> None:
    stmt = Statement(SESSION, "DELETE FROM t", "simple", MONDAY_10_JST)
    block = Decision(Verdict.BLOCK, (Reason("firewall.unknown", "new statement", "DB-1"),))
    at = MONDAY_10_JST
    built = [
        ev.connect_event(SESSION, proxy="p", at=at),
        ev.connect_failure_event(SESSION, proxy="p", at=at, sqlstate="08006", error="gone"),
        ev.auth_failure_event(SESSION, proxy="p", at=at, sqlstate="28P01", error="bad"),
        ev.disconnect_event(
            SESSION, proxy="p", at=at, duration_s=1.5, statements=3, rows_returned=7, reason="x"
        ),
        ev.end_user_event(SESSION, proxy="p", at=at, claimed="eve", problem="expired"),
        ev.cancel_event(SESSION, proxy="p", at=at, by="client"),
        ev.anomaly_event(SESSION, proxy="p", at=at, anomaly="row_count_mismatch", detail="d"),
        ev.decision_event(
            stmt, basic_analysis(stmt.text), block, proxy="p", operation="DELETE", log_text=False
        ),
    ]
    actions = []
    for data in built:
        doc = orjson.loads(data)
        assert canonical(doc) == data
        assert doc["event"]["module"] == "dbguard" and "database" in doc["event"]["category"]
        assert doc["mamori"]["dbguard"]["session"] == "abcd"
        actions.append(doc["event"]["action"])
    assert actions == [
        "connect",
        "connect",
        "auth_failure",
        "disconnect",
        "end_user_unverified",
        "cancel",
        "protocol_anomaly",
        "decision",
    ]
    decision = orjson.loads(built[-1])
    assert decision["event"]["kind"] == "alert" and decision["event"]["type"] == ["denied"]
    assert decision["mamori"]["dbguard"]["decision"]["reasons"][0]["code"] == "firewall.unknown"


@pytest.mark.parametrize("verdict", list(Verdict))
def test_every_verdict_has_its_word(verdict: Verdict) -> None:
    doc = query(decision=Decision(verdict, ()))
    assert doc["mamori"]["dbguard"]["decision"]["verdict"] == verdict.name.lower()
