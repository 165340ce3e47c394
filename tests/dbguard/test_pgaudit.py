"""pgaudit in PostgreSQL's csvlog and jsonlog as statement events: the parsers, the assembly
of multi-line csvlog records, and a real server running pgaudit read by the tail."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.config import TAIL_FORMATS, TailConfig
from mamori.dbguard.pgaudit import PgLogReader, parse_audit, query_fields
from mamori.dbguard.pglog import (
    MAX_RECORD_BYTES,
    Assembled,
    CsvAssembler,
    Fragment,
    parse_time,
    split_csv,
)
from mamori.ingest.boundary import Rejected
from mamori.ingest.normalise import LineNormaliser, Source
from mamori.ingest.tail import TailPosition, run_tail
from tests.dbguard.privcluster import Cluster, private_cluster
from tests.ingest.fakesink import FakeSink

UTC = dt.UTC
RECEIVED = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TAIL = Source("tail", "/var/log/postgresql/postgresql.csv")


def csv_field(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def csv_line(message: str, *, user: str = "app", host: str = "10.1.2.3:5555") -> bytes:
    """A PostgreSQL 15 csvlog record (26 columns) as the server writes it."""
    fields = [
        "2026-11-27 17:04:19.237 UTC",
        csv_field(user),
        csv_field("shop"),
        "4242",
        csv_field(host),
        "6b09b813.3cd3",
        "3",
        csv_field("SELECT"),
        "2026-11-27 17:04:19 UTC",
        "3/6",
        "0",
        "LOG",
        "00000",
        csv_field(message),
        *[""] * 8,
        csv_field("psql"),
        csv_field("client backend"),
        "",
        "0",
    ]
    return ",".join(fields).encode()


def events(fmt: str, data: bytes) -> list[dict[str, Any]]:
    n = LineNormaliser(fmt, TAIL, UTC)
    out = []
    for line in data.split(b"\n"):
        raw = n.event(line, RECEIVED)
        if raw is not None:
            out.append(orjson.loads(raw))
    return out


# --- CSV --------------------------------------------------------------------------------------


def test_split_csv() -> None:
    assert split_csv('a,"b,c","d""e",,"",f') == ["a", "b,c", 'd"e', "", "", "f"]
    assert split_csv('"multi\nline",x') == ["multi\nline", "x"]
    assert split_csv("") == [""]
    assert split_csv("a,") == ["a", ""]
    assert split_csv('"open') is None
    assert split_csv('"open', lenient=True) == ["open"]
    assert split_csv('a"b') is None
    assert split_csv('"a"b') is None
    # Regression: an unterminated field holding a doubled quote once matched up to that quote
    # (backtracking) and the record was refused even when read leniently.
    assert split_csv('"x ""y"" z') is None
    assert split_csv('"x ""y"" z', lenient=True) == ['x "y" z']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(), min_size=1, max_size=8))
def test_split_csv_reads_what_rfc4180_writes(fields: list[str]) -> None:
    assert split_csv(",".join(csv_field(f) for f in fields)) == fields


def test_multi_line_records_are_assembled() -> None:
    a = CsvAssembler()
    assert a.feed(b'2026-11-27 17:04:19.237 UTC,"x","select 1') is None
    assert a.holding
    assert a.feed(b"  from t") is None
    got = a.feed(b' where a = ""q""",done')
    assert isinstance(got, Assembled)
    assert got.raw == b'2026-11-27 17:04:19.237 UTC,"x","select 1\n  from t\n where a = ""q""",done'
    assert not a.holding
    # A single-line record comes back at once.
    assert isinstance(a.feed(csv_line("hello")), Assembled)


def test_a_record_whose_start_was_not_read_is_a_fragment() -> None:
    a = CsvAssembler()
    got = a.feed(b' from t where x = 1",,,"psql"')
    assert isinstance(got, Fragment) and "start" in got.reason
    assert isinstance(a.feed(csv_line("next")), Assembled)


def test_a_cut_line_ends_its_record_and_oversized_records_are_fragments() -> None:
    a = CsvAssembler()
    got = a.feed(b'2026-11-27 17:04:19.237 UTC,"cut here', cut=True)
    assert isinstance(got, Assembled) and got.cut
    assert a.feed(b'2026-11-27 17:04:19.237 UTC,"open') is None
    piece = b"x" * 65536
    got2: Assembled | Fragment | None = None
    for _ in range(MAX_RECORD_BYTES // len(piece) + 1):
        got2 = a.feed(piece)
        if got2 is not None:
            break
    assert isinstance(got2, Fragment) and len(got2.raw) == MAX_RECORD_BYTES
    assert not a.holding


# --- pgaudit entries -------------------------------------------------------------------------------


def test_parse_audit_entries() -> None:
    e = parse_audit('AUDIT: SESSION,2,1,READ,SELECT,TABLE,public.t,"select a, b from t",<none>,12')
    assert e is not None
    assert (e.audit_type, e.statement_id, e.substatement_id) == ("SESSION", 2, 1)
    assert (e.audit_class, e.command, e.object_type, e.object_name) == (
        "READ",
        "SELECT",
        "TABLE",
        "public.t",
    )
    assert e.statement == "select a, b from t" and e.rows == 12 and e.parameters_logged
    e = parse_audit(
        "AUDIT: OBJECT,3,1,WRITE,UPDATE,TABLE,public.account,update account,<not logged>"
    )
    assert e is not None and e.rows is None and not e.parameters_logged
    assert parse_audit("AUDIT: nonsense") is None
    assert parse_audit("connection received: host=[local]") is None
    assert parse_audit("AUDIT: SESSION,x,1,READ,SELECT,,,select 1,<none>") is None


def test_query_fields_remove_literals() -> None:
    q = query_fields("SELECT * FROM users WHERE email = 'alice@example.jp' AND id = 42 -- note")
    assert q.normalised == "SELECT * FROM users WHERE email = $1 AND id = $2"
    assert (
        q.fingerprint
        == query_fields("select * from users where email = 'x' and id = 1").fingerprint
    )
    redacted = query_fields("alter role app password <REDACTED>")
    assert redacted.normalised == "alter role app password $1" and redacted.fingerprint
    unparsable = query_fields("selec 'secret' frm t")
    assert unparsable.fingerprint == "" and "secret" not in unparsable.normalised
    assert query_fields("select 'unterminated") == query_fields("<previously logged>")
    assert query_fields("select 'unterminated").normalised == ""


def test_parse_time() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    utc = parse_time("2026-11-27 17:04:19.142 UTC", tokyo)
    assert utc == dt.datetime(2026, 11, 27, 17, 4, 19, 142000, tzinfo=UTC)
    assert parse_time("2026-11-28 02:04:19.142 JST", tokyo) == utc
    assert parse_time("2026-11-28 02:04:19.142 JST", UTC) == utc  # from the table
    assert parse_time("2026-11-28 02:04:19.142 +09", UTC) == utc
    assert parse_time("2026-11-28 02:04:19.142 +09:00", UTC) == utc
    assert parse_time("2026-11-28 02:04:19.142 XYZT", tokyo) == utc  # unknown: the zone given
    assert parse_time("2026-13-01 00:00:00 UTC", UTC) is None
    assert parse_time("9999-12-31 23:59:59 -05", UTC) is None
    assert parse_time("yesterday", UTC) is None


# --- through the line normaliser -------------------------------------------------------------------


def test_statement_event_from_csvlog() -> None:
    line = csv_line(
        "AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,\"select *\n from t where x = 'secret'\",<none>,7"
    )
    first, rest = line.split(b"\n", 1)
    n = LineNormaliser("pglog-csv", TAIL, UTC)
    assert n.event(first, RECEIVED) is None  # held until the record is whole
    raw = n.event(rest, RECEIVED)
    assert raw is not None and b"secret" not in raw
    doc = orjson.loads(raw)
    assert doc["@timestamp"] == "2026-11-27T17:04:19.237000Z"
    assert doc["event"] == {
        "kind": "event",
        "category": ["database"],
        "type": ["access"],
        "action": "query",
        "module": "dbguard",
        "dataset": "mamori.pgaudit",
    }
    assert doc["db"]["name"] == "shop" and doc["db"]["user"] == "app"
    assert doc["user"] == {"name": "app"}
    assert doc["source"] == {"ip": "10.1.2.3", "port": 5555}
    assert doc["db"]["operation"] == "SELECT"
    assert doc["db"]["query"]["text"] == "select * from t where x = $1"
    assert (
        doc["db"]["statement"]["fingerprint"]
        == query_fields("select * from t where x = 'y'").fingerprint
    )
    assert doc["db"]["response"] == {"returned_rows": 7}
    assert doc["postgresql"]["audit"]["object_name"] == "public.t"
    assert doc["postgresql"]["log"]["application_name"] == "psql"
    assert doc["log"] == {"level": "log", "file": {"path": TAIL.address}}
    assert doc["mamori"]["receiver"] == "tail"


def test_statement_event_from_jsonlog() -> None:
    record = {
        "timestamp": "2026-11-28 02:04:19.237 JST",
        "user": "app",
        "dbname": "shop",
        "pid": 4242,
        "remote_host": "::1",
        "remote_port": 40000,
        "session_id": "6b09b813.3cd3",
        "line_num": 3,
        "error_severity": "LOG",
        "message": "AUDIT: SESSION,1,1,WRITE,INSERT,,,\"insert into t values (1, 'x')\",<not logged>",
    }
    (doc,) = events("pglog-json", orjson.dumps(record))
    assert doc["@timestamp"] == "2026-11-27T17:04:19.237000Z"
    assert doc["event"]["action"] == "query" and doc["event"]["type"] == ["change"]
    assert doc["source"] == {"ip": "::1", "port": 40000}
    assert doc["db"]["query"]["text"] == "insert into t values ($1, $2)"
    assert "response" not in doc["db"]  # no rows without pgaudit.log_rows
    assert doc["postgresql"]["audit"]["parameters_logged"] is False


def test_other_lines_are_ordinary_events() -> None:
    fail = csv_line('password authentication failed for user "mallory"', user="mallory")
    fail = fail.replace(b",LOG,00000,", b",FATAL,28P01,")
    (doc,) = events("pglog-csv", fail)
    assert doc["event"]["action"] == "authentication_failure"
    assert doc["event"]["outcome"] == "failure" and doc["event"]["category"] == ["authentication"]
    assert doc["log"]["level"] == "fatal" and doc["error"]["code"] == "28P01"
    assert doc["user"] == {"name": "mallory"} and doc["event"]["dataset"] == "mamori.pglog"
    (doc,) = events("pglog-csv", csv_line("checkpoint starting: time", user="", host="[local]"))
    assert doc["message"] == "checkpoint starting: time" and "source" not in doc
    assert "action" not in doc["event"] and doc["log"]["level"] == "log"


def test_bad_lines_are_kept_as_rejected() -> None:
    docs = events("pglog-csv", b'not a record\n2026-11-27 17:04:19 UTC,"too","few"')
    assert [d["event"]["action"] for d in docs] == ["ingest.rejected", "ingest.rejected"]
    assert base64.b64decode(docs[0]["mamori"]["ingest"]["raw"]) == b"not a record"
    docs = events("pglog-json", b'[1]\n{"message": "no time"}\n{bad')
    assert [d["event"]["action"] for d in docs] == ["ingest.rejected"] * 3


def test_a_record_cut_by_rotation_rides_on_the_next_event() -> None:
    n = LineNormaliser("pglog-csv", TAIL, UTC)
    assert n.event(b'2026-11-27 17:04:19.237 UTC,"app","select 1', RECEIVED) is None
    n.reset()  # the file ended mid-record; the next line starts another file
    raw = n.event(csv_line("next"), RECEIVED)
    assert raw is not None
    doc = orjson.loads(raw)
    assert doc["message"] == "next"
    stranded = doc["postgresql"]["log"]["stranded"]
    assert base64.b64decode(stranded["raw"]).endswith(b'"select 1')


def test_a_cut_audit_line_keeps_who_and_what() -> None:
    line = csv_line("AUDIT: SESSION,1,1,READ,SELECT,,,\"select 1 from big where x = 'v'")
    cut = line[: line.index(b"where") + 5]
    n = LineNormaliser("pglog-csv", TAIL, UTC)
    raw = n.event(cut, RECEIVED, truncated_from=len(line))
    assert raw is not None
    doc = orjson.loads(raw)
    assert doc["event"]["action"] == "query" and doc["user"] == {"name": "app"}
    assert doc["mamori"]["truncated"] == {"original_bytes": len(line)}


def test_pglog_formats_are_tail_formats() -> None:
    assert "pglog-csv" in TAIL_FORMATS and "pglog-json" in TAIL_FORMATS


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["pglog-csv", "pglog-json"]),
    st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(str.encode),
            st.builds(
                lambda m: csv_line(m),
                st.text(max_size=120).map(lambda s: "AUDIT: SESSION,1,1,READ," + s),
            ),
            st.builds(
                lambda p, s: (p + s).encode(),
                st.sampled_from(['2026-11-27 17:04:19 UTC,"', '{"timestamp":1,"message":']),
                st.text(max_size=100),
            ),
        ),
        max_size=8,
    ),
    st.none() | st.integers(1, 10**6),
    st.booleans(),
)
def test_readers_never_raise(fmt: str, lines: list[bytes], cut: int | None, reset: bool) -> None:
    reader = PgLogReader(fmt, UTC)
    n = LineNormaliser(fmt, TAIL, UTC)
    for i, line in enumerate(lines):
        raw, result = reader.feed(line, RECEIVED, cut)
        assert result is None or isinstance(result, dict | Rejected)
        # Never through the reader's last-resort catch (that would be a bug, not bad input).
        assert not (isinstance(result, Rejected) and "line not read" in result.reason)
        assert isinstance(raw, bytes)
        out = n.event(line, RECEIVED, truncated_from=cut)
        if out is not None:
            assert orjson.loads(out)["mamori"]["receiver"] == "tail"
        if reset and i == 1:
            reader.reset()
            n.reset()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=300))
def test_pure_parsers_never_raise(text: str) -> None:
    split_csv(text)
    split_csv(text, lenient=True)
    parse_audit("AUDIT: " + text)
    parse_audit("AUDIT: SESSION,1,1," + text)
    parse_time(text, UTC)
    parse_time("2026-11-27 17:04:19" + text, UTC)
    query_fields(text)


# --- a real server running pgaudit ------------------------------------------------------------------

SETTINGS = {
    "shared_preload_libraries": "'pgaudit'",
    "log_destination": "'csvlog,jsonlog'",
    "pgaudit.log": "'read, write, role, ddl'",
    "pgaudit.log_rows": "on",
    "log_connections": "on",
}


@pytest.fixture(scope="module")
def audited() -> Iterator[Cluster]:
    with private_cluster(SETTINGS) as cluster:
        cluster.sql(
            "CREATE ROLE clerk LOGIN PASSWORD 'hunter2'",
            "CREATE TABLE residents(id int, name text, note text)",
            "INSERT INTO residents SELECT g, 'name' || g, 'n' FROM generate_series(1, 50) g",
            "GRANT SELECT ON residents TO clerk",
        )
        with psycopg.connect(cluster.conninfo("clerk", tcp=True), autocommit=True) as conn:
            conn.execute(
                "SELECT id, name\n  FROM residents\n WHERE note = 'n' -- multi-line, a literal\n"
                "   AND name <> 'Yamada \"Taro\", 1-2-3'"
            )
            conn.execute("SELECT * FROM residents WHERE id <= %s", (5,))
            with pytest.raises(psycopg.errors.UndefinedTable):
                conn.execute("SELECT * FROM nowhere WHERE secret = 'sesame'")
        deadline = time.monotonic() + 10
        csv = cluster.log_dir / "postgresql.csv"
        while time.monotonic() < deadline:
            if csv.exists() and b"nowhere" in csv.read_bytes():
                break
            time.sleep(0.05)
        yield cluster


def _statements(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["event"].get("dataset") == "mamori.pgaudit"]


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in ("log", "mamori")}


def test_real_pgaudit_logs_become_statement_events(audited: Cluster) -> None:
    by_format = {
        fmt: events(fmt, (audited.log_dir / name).read_bytes())
        for fmt, name in (("pglog-csv", "postgresql.csv"), ("pglog-json", "postgresql.json"))
    }
    csv_docs, json_docs = by_format["pglog-csv"], by_format["pglog-json"]
    assert not [d for d in csv_docs + json_docs if d["event"].get("action") == "ingest.rejected"]
    # Both formats say the same thing.
    assert [_comparable(d) for d in csv_docs] == [_comparable(d) for d in json_docs]
    stmts = _statements(csv_docs)
    ops = [(d["user"]["name"], d["db"]["operation"]) for d in stmts]
    assert ops == [
        ("super", "CREATE ROLE"),
        ("super", "CREATE TABLE"),
        ("super", "INSERT"),
        ("super", "GRANT"),
        ("clerk", "SELECT"),
        ("clerk", "SELECT"),
    ]
    multi, bound = stmts[4], stmts[5]
    assert multi["db"]["query"]["text"] == (
        "SELECT id, name FROM residents WHERE note = $1 AND name <> $2"
    )
    assert multi["db"]["response"] == {"returned_rows": 50}
    assert multi["source"]["ip"] == "127.0.0.1" and multi["db"]["name"] == "postgres"
    assert bound["db"]["query"]["text"] == "SELECT * FROM residents WHERE id <= $1"
    assert bound["db"]["response"] == {"returned_rows": 5}
    assert stmts[0]["db"]["query"]["text"] == "CREATE ROLE clerk LOGIN PASSWORD $1"
    assert stmts[2]["postgresql"]["audit"]["rows"] == 50
    assert stmts[2]["db"]["response"] == {"affected_rows": 50}  # written, not returned
    assert multi["db"]["query"]["fingerprint"] == multi["db"]["statement"]["fingerprint"]
    everything = orjson.dumps(csv_docs + json_docs)
    for secret in (b"hunter2", b"Yamada", b"sesame"):
        assert secret not in everything
    error = next(d for d in csv_docs if d.get("log", {}).get("level") == "error")
    assert error["error"]["code"] == "42P01"
    assert error["postgresql"]["log"]["query"] == "SELECT * FROM nowhere WHERE secret = $1"
    authorized = [d for d in csv_docs if d["event"].get("action") == "connection_authorized"]
    assert {d["user"]["name"] for d in authorized} == {"super", "clerk"}


def test_real_csvlog_through_the_tail(audited: Cluster, tmp_path: Path) -> None:
    # The service's own loop (run_tail) over the file the server wrote, read in small batches
    # so multi-line records straddle reads.
    path = tmp_path / "postgresql.csv"
    path.write_bytes((audited.log_dir / "postgresql.csv").read_bytes())
    expected = _statements(events("pglog-csv", path.read_bytes()))
    sink = FakeSink()
    cfg = TailConfig(path=str(path), format="pglog-csv")

    async def go() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01, batch_lines=2)
        )
        try:
            await sink.wait_until(lambda s: len(_statements(s.docs())) >= len(expected))
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(go())
    got = _statements(sink.docs())
    assert [_comparable(d) for d in got] == [_comparable(d) for d in expected]
    assert all(d["log"]["file"]["path"] == str(path) for d in got)


def test_a_restart_inside_a_multi_line_record_neither_loses_nor_repeats_it(
    tmp_path: Path,
) -> None:
    """Regression: the tail stored its position after every batch, even when a csvlog record
    spanning several lines was only half read, so a restart at that moment resumed after the
    record's first lines and lost it. The position now stops where the held record starts."""
    path = tmp_path / "postgresql.csv"
    first = csv_line("AUDIT: SESSION,1,1,READ,SELECT,,,select 1,<not logged>")
    multi = csv_line(
        "AUDIT: SESSION,2,1,READ,SELECT,,,select 2\n  from t\n  where a = 1,<not logged>"
    )
    head, rest = multi.split(b"\n", 1)
    path.write_bytes(first + b"\n" + head + b"\n")
    sink = FakeSink()
    cfg = TailConfig(path=str(path), format="pglog-csv")

    async def run_until(count: int) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(run_tail(cfg, sink, UTC, stop=stop, poll_interval=0.01))
        try:
            await sink.wait_until(lambda s: len(_statements(s.docs())) >= count)
            await asyncio.sleep(0.1)  # give it the chance to store more than it should
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(run_until(1))
    (mark,) = sink.marks.values()
    position = TailPosition.from_mark(mark)
    assert position is not None and position.offset == len(first) + 1
    # The service stops; the server finishes the record; the service starts again.
    with path.open("ab") as f:
        f.write(rest + b"\n")
    asyncio.run(run_until(2))
    texts = [d["db"]["query"]["text"] for d in _statements(sink.docs())]
    assert len(texts) == 2 and "from t" in texts[1]
