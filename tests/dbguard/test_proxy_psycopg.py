"""psycopg 3 through the proxy: simple and extended protocol, binary parameters, prepared
statements, server-side cursors fetched in batches, COPY, pipelines, cancel, garbled input."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

import psycopg
import pytest
from psycopg import errors

from tests.dbguard.harness import ProxyRunner
from tests.dbguard.pg import PgCluster, wait_until


def connect(
    pg: PgCluster, r: ProxyRunner, *, autocommit: bool = True, **params: object
) -> psycopg.Connection[tuple[object, ...]]:
    values: dict[str, object] = {"port": r.port, "application_name": "psycopg-test"}
    values.update(params)
    return psycopg.connect(pg.dsn("app", **values), autocommit=autocommit)


def test_extended_protocol_with_text_and_binary_parameters(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    with connect(pg, r) as conn:
        cur = conn.cursor()
        cur.execute("SELECT * FROM generate_series(1, %s)", [12345])
        assert len(cur.fetchall()) == 12345
        cur.execute("SELECT %s::text || 'x', %s::int", ["secret-param", 7], binary=True)
        assert cur.fetchone() == ("secret-paramx", 7)
        for i in range(3):
            cur.execute("SELECT %s::int + 1", [i], prepare=True)
        cur.execute("SELECT 1", prepare=False)
    queries = r.events("query")
    assert [q["db"]["response"]["returned_rows"] for q in queries] == [12345, 1, 1, 1, 1, 1]
    protocols = [q["mamori"]["dbguard"]["protocol"] for q in queries]
    assert protocols == ["extended"] * 5 + ["simple"]  # psycopg: no parameters, simple Query
    assert queries[0]["db"]["query"]["text"] == "SELECT * FROM generate_series($2, $1)"
    assert queries[0]["mamori"]["dbguard"]["parameters"] == 1
    assert queries[1]["mamori"]["dbguard"]["parameters"] == 2
    assert "secret-param" not in str(r.events())
    assert len({q["db"]["query"]["fingerprint"] for q in queries[2:5]}) == 1
    assert r.events("protocol_anomaly") == []


def test_server_side_cursor_fetched_in_batches(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    with connect(pg, r, autocommit=False) as conn:
        with conn.cursor(name="big") as cur:
            cur.itersize = 1000
            cur.execute("SELECT generate_series(1, 12345)")
            total = 0
            while batch := cur.fetchmany(1000):
                total += len(batch)
        conn.commit()
    assert total == 12345
    queries = r.events("query")
    fetches = [q for q in queries if q["db"]["operation"] == "FETCH"]
    assert sum(q["db"]["response"]["returned_rows"] for q in fetches) == 12345
    assert len(fetches) >= 13
    cursors = [q["mamori"]["dbguard"]["cursor"] for q in fetches]
    assert {c["name"] for c in cursors} == {"big"}
    assert cursors[-1]["rows"] == 12345  # the running total travels with each FETCH
    (declare,) = [q for q in queries if q["db"]["operation"] == "DECLARE"]
    assert cursors[0]["fingerprint"] == declare["db"]["query"]["fingerprint"]
    assert r.events("protocol_anomaly") == []


def test_copy_in_and_out(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy()
    with connect(pg, r) as conn:
        conn.execute("DROP TABLE IF EXISTS pcopy")
        conn.execute("CREATE TABLE pcopy (id int, name text)")
        with conn.cursor() as cur:
            with cur.copy("COPY pcopy FROM STDIN") as copy:
                for i in range(5000):
                    copy.write_row((i, f"n{i}"))
            data = b""
            with cur.copy("COPY (SELECT * FROM pcopy) TO STDOUT (FORMAT csv)") as copy:
                for block in copy:
                    data += block
            assert len(data.splitlines()) == 5000
            with cur.copy("COPY pcopy TO STDOUT (FORMAT binary)") as copy:
                copy.set_types(["int4", "text"])
                assert sum(1 for _ in copy.rows()) == 5000
    copies = [q for q in r.events("query") if q["db"]["operation"] == "COPY"]
    assert [c["db"]["response"]["affected_rows"] for c in copies] == [5000, 0, 0]
    assert [c["db"]["response"]["returned_rows"] for c in copies] == [0, 5000, 5000]
    assert r.events("protocol_anomaly") == []


def test_pipeline_with_an_error_records_every_statement(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    with connect(pg, r) as conn:
        with pytest.raises(errors.DivisionByZero), conn.pipeline():
            conn.execute("SELECT 1")
            conn.execute("SELECT 1 / 0")
            conn.execute("SELECT 3")
        assert conn.execute("SELECT 4").fetchone() == (4,)
    outcomes = [
        (q["event"]["outcome"], q["mamori"]["dbguard"].get("sqlstate", ""))
        for q in r.events("query")
    ]
    assert outcomes == [
        ("success", ""),
        ("failure", "22012"),
        ("failure", ""),  # skipped by the server after the error: still recorded
        ("success", ""),
    ]


def test_cancel_through_the_proxy(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy()
    with connect(pg, r) as conn:
        assert conn.pgconn.backend_pid not in pg.backend_pids("psycopg-test")  # the proxy's pid
        # cancel_safe: psycopg's cancel() keeps the GIL while libpq waits, which would stop
        # the proxy running in this very process (tests only; psql's cancel is tested too).
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30)")
        assert time.monotonic() - t0 < 10
        assert conn.execute("SELECT 2").fetchone() == (2,)
    (cancel,) = r.events("cancel")
    assert cancel["mamori"]["dbguard"]["cancelled_by"] == "client"
    sleep = r.events("query")[0]
    assert sleep["mamori"]["dbguard"]["sqlstate"] == "57014"


def test_a_wrong_cancel_key_cancels_nothing(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    import socket
    import struct

    r = run_proxy()
    with connect(pg, r) as conn:
        pid = conn.pgconn.backend_pid
        with socket.create_connection(("127.0.0.1", r.port)) as s:
            s.sendall(struct.pack("!iiii", 16, 80877102, pid, 12345))
            assert s.recv(10) == b""
        t0 = time.monotonic()
        conn.execute("SELECT pg_sleep(0.3)")
        assert time.monotonic() - t0 >= 0.3
    assert r.events("cancel") == []


def test_garbled_client_input_ends_only_that_session(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    with connect(pg, r) as good, connect(pg, r, application_name="victim") as bad:
        # An unknown message type, written straight onto the victim's socket.
        os.write(bad.pgconn.socket, b"\x01\x00\x00\x00\x08garb")
        with pytest.raises(psycopg.OperationalError) as caught:
            bad.execute("SELECT 1")
        assert "invalid message" in str(caught.value) or bad.closed or bad.broken
        assert good.execute("SELECT 42").fetchone() == (42,)
    anomalies = r.events("protocol_anomaly")
    assert [a["mamori"]["dbguard"]["anomaly"] for a in anomalies] == ["client_protocol_violation"]
    assert anomalies[0]["mamori"]["dbguard"]["application"] == "victim"


def test_garbage_before_startup(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    import socket

    r = run_proxy()
    for junk in (
        b"\xff\xff\xff\xff",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x00\x00\x00\x08\x00\x01\x00\x00",
    ):
        with socket.create_connection(("127.0.0.1", r.port)) as s:
            s.sendall(junk)
            s.settimeout(5)
            answer = s.recv(1000)
            assert answer[:1] == b"E" and b"08P01" in answer, answer
    with connect(pg, r) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_notices_and_notifications_pass(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    notices: list[str] = []
    with connect(pg, r) as listener, connect(pg, r) as talker:
        listener.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
        listener.execute("DO $$ BEGIN RAISE NOTICE 'hello from the server'; END $$")
        listener.execute("LISTEN residents")
        talker.execute("NOTIFY residents, 'changed'")
        got = next(listener.notifies(timeout=10))
    assert notices == ["hello from the server"]
    assert (got.channel, got.payload) == ("residents", "changed")


def test_backend_terminated_by_the_server(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    with connect(pg, r, application_name="doomed") as conn:
        (pid,) = pg.backend_pids("doomed")
        pg.sql(f"SELECT pg_terminate_backend({pid})")
        # (before the client writes again: a write to the dead backend could reset the line)
        assert wait_until(lambda: r.sessions() == 0)
        with pytest.raises(psycopg.OperationalError) as caught:
            conn.execute("SELECT 1")
        # the server said why (57P01, FATAL): the proxy passes that on, and closes
        assert "terminating connection due to administrator command" in str(caught.value)
    (bye,) = r.events("disconnect")
    assert bye["mamori"]["dbguard"]["reason"] == "server closed the session"
