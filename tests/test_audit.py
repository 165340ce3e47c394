"""Self-audit events: the pure ECS builder, and the outbox commands write them to."""

from __future__ import annotations

import datetime as dt
import os
import pwd
import socket
import stat
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from mamori.audit import (
    AuditError,
    Identity,
    audit_doc,
    audit_event,
    pending,
    prune,
    record,
)
from mamori.home import Home
from mamori.ledger.canonical import canonical

WHO = Identity(host="web-01", pid=4242, user="tanaka")
WHEN = dt.datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=ZoneInfo("Asia/Tokyo"))


def test_audit_doc_is_an_ecs_document() -> None:
    doc = audit_doc(
        "token.created", when=WHEN, identity=WHO, fields={"name": "web-01", "scope": "ingest"}
    )
    assert doc == {
        "@timestamp": "2026-11-27T00:00:00.123456Z",
        "event": {
            "action": "token.created",
            "kind": "event",
            "module": "mamori",
            "outcome": "success",
        },
        "host": {"name": "web-01"},
        "process": {"pid": 4242},
        "user": {"name": "tanaka"},
        "mamori": {"audit": {"name": "web-01", "scope": "ingest"}},
    }


def test_audit_doc_outcomes_and_empty_fields() -> None:
    doc = audit_doc("device.revoked", when=WHEN, identity=WHO, outcome="failure")
    assert doc["event"]["outcome"] == "failure"
    assert doc["mamori"] == {"audit": {}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": ""}, "needs an action"),
        ({"outcome": "ok"}, "not an event outcome"),
        ({"when": dt.datetime(2026, 1, 1)}, "must carry its zone"),  # naive: the point
    ],
)
def test_audit_doc_refuses_bad_values(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"action": "x.y", "when": WHEN, "identity": WHO, **kwargs}
    with pytest.raises(AuditError, match=message) as info:
        audit_doc(**args)  # type: ignore[arg-type]
    assert info.value.hint


def test_fields_are_copied_not_shared() -> None:
    fields = {"name": "a"}
    doc = audit_doc("x.y", when=WHEN, identity=WHO, fields=fields)
    fields["name"] = "b"
    assert doc["mamori"]["audit"] == {"name": "a"}


def test_audit_event_is_canonical_and_names_this_process() -> None:
    raw = audit_event("token.revoked", fields={"name": "n", "scope": "metrics"}, now=WHEN)
    doc = orjson.loads(raw)
    assert canonical(doc) == raw
    assert doc["@timestamp"] == "2026-11-27T00:00:00.123456Z"
    assert doc["process"] == {"pid": os.getpid()}
    assert doc["user"] == {"name": pwd.getpwuid(os.getuid()).pw_name}
    assert doc["host"] == {"name": socket.gethostname()}
    assert doc["mamori"] == {"audit": {"name": "n", "scope": "metrics"}}


def test_audit_event_defaults_to_now_in_utc() -> None:
    before = dt.datetime.now(dt.UTC)
    stamp = orjson.loads(audit_event("x.y"))["@timestamp"]
    assert stamp.endswith("Z")
    when = dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
    assert before <= when <= dt.datetime.now(dt.UTC)


@pytest.mark.parametrize("bad", [{"x": object()}, {"x": float("nan")}, {"x": {1: "a"}}])
def test_fields_that_are_not_json_are_an_audit_error(bad: dict[str, object]) -> None:
    with pytest.raises(AuditError, match="not JSON"):
        audit_event("x.y", fields=bad)


def test_outbox_records_in_order_and_pages(home: Home) -> None:
    ids = [record(home, "a.b", fields={"n": i}) for i in range(5)]
    assert ids == sorted(ids) and len(set(ids)) == 5
    page = pending(home, 0, 3)
    assert [i for i, _ in page] == ids[:3]
    assert [orjson.loads(ev)["mamori"]["audit"]["n"] for _, ev in page] == [0, 1, 2]
    assert [i for i, _ in pending(home, ids[2], 100)] == ids[3:]
    assert pending(home, ids[-1], 100) == []


def test_prune_removes_drained_events_and_ids_are_never_reused(home: Home) -> None:
    ids = [record(home, "a.b") for _ in range(3)]
    assert prune(home, ids[1]) == 2
    assert [i for i, _ in pending(home, 0, 10)] == [ids[2]]
    assert prune(home, ids[2]) == 1
    assert pending(home, 0, 10) == []
    # AUTOINCREMENT: after pruning everything, a new event still gets a higher id, so a writer
    # that stored "drained up to ids[2]" never skips it.
    new = record(home, "a.b")
    assert new > ids[2]
    assert [i for i, _ in pending(home, ids[2], 10)] == [new]


def test_outbox_is_private(home: Home) -> None:
    record(home, "a.b")
    files = list(home.root.glob("outbox.db*"))
    assert files
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p


def test_outbox_in_a_missing_home_is_an_audit_error(tmp_path: Path) -> None:
    missing = Home(tmp_path / "gone")
    with pytest.raises(AuditError) as info:
        record(missing, "a.b")
    assert "outbox" in info.value.message and info.value.hint
