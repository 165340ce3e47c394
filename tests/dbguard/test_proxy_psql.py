"""psql through the proxy: several statements in one message, \\copy both ways, SCRAM with
right and wrong passwords, TLS to the client, attribution in the events."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dbguard.harness import ProxyRunner
from tests.dbguard.pg import PgCluster


def psql(
    pg: PgCluster,
    runner: ProxyRunner,
    *args: str,
    role: str = "app",
    stdin: bytes | None = None,
    **env: str,
) -> subprocess.CompletedProcess[bytes]:
    full = pg.env(role, PGPORT=str(runner.port), PGAPPNAME="psql-test", **env)
    return subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", *args],
        env=full,
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_several_statements_in_one_message(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    proc = psql(
        pg,
        r,
        "-c",
        "SELECT 1; SELECT * FROM generate_series(1, 12345); SELECT 'secret-literal' AS x",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split()[-1] == "secret-literal"
    queries = r.events("query")
    assert [q["db"]["response"]["returned_rows"] for q in queries] == [1, 12345, 1]
    assert {q["mamori"]["dbguard"]["statements_in_message"] for q in queries} == {3}
    assert [q["db"]["query"]["text"] for q in queries] == [
        "SELECT $1",
        "SELECT * FROM generate_series($1, $2)",
        "SELECT $1 AS x",
    ]
    q = queries[1]
    assert q["event"]["category"] == ["database"]
    assert q["event"]["outcome"] == "success"
    assert q["db"]["operation"] == "SELECT"
    assert q["db"]["response"]["command_tag"] == "SELECT 12345"
    assert q["db"]["user"] == "app" and q["db"]["name"] == "app"
    assert q["user"]["name"] == "app"
    assert q["source"]["ip"] == "127.0.0.1"
    assert q["mamori"]["dbguard"]["application"] == "psql-test"
    assert q["mamori"]["dbguard"]["protocol"] == "simple"
    assert q["event"]["duration"] > 0
    session = q["mamori"]["dbguard"]["session"]
    actions = [(e["event"]["action"], e["mamori"]["dbguard"]["session"]) for e in r.events()]
    assert actions[0] == ("connect", session) and actions[-1] == ("disconnect", session)
    bye = r.events("disconnect")[0]["mamori"]["dbguard"]
    assert bye["statements"] == 3 and bye["rows_returned"] == 12347
    everything = "".join(str(e) for e in r.events())
    assert "secret-literal" not in everything  # literals never logged by default


def test_statement_text_when_configured(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy(log_statement_text=True)
    assert psql(pg, r, "-c", "SELECT 'kept' AS x").returncode == 0
    assert r.events("query")[0]["db"]["query"]["text"] == "SELECT 'kept' AS x"


def test_copy_in_and_out(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner], tmp_path: Path
) -> None:
    r = run_proxy()
    data = "".join(f"{i}\tname {i}\n" for i in range(1, 2001)).encode()
    src = tmp_path / "in.tsv"
    src.write_bytes(data)
    out = tmp_path / "out.csv"
    script = (
        "DROP TABLE IF EXISTS copied;\n"
        "CREATE TABLE copied (id int, name text);\n"
        f"\\copy copied FROM '{src}'\n"
        f"\\copy copied TO '{out}' WITH (FORMAT csv)\n"
        "\\copy (SELECT * FROM copied WHERE id <= 10) TO STDOUT\n"
    )
    proc = psql(pg, r, stdin=script.encode())
    assert proc.returncode == 0, proc.stderr
    assert len(out.read_text().splitlines()) == 2000
    copies = [q for q in r.events("query") if q["db"]["operation"] == "COPY"]
    assert [q["db"]["response"]["command_tag"] for q in copies] == [
        "COPY 2000",
        "COPY 2000",
        "COPY 10",
    ]
    assert copies[0]["db"]["response"]["affected_rows"] == 2000
    assert copies[0]["db"]["response"]["returned_rows"] == 0
    assert [c["db"]["response"]["returned_rows"] for c in copies[1:]] == [2000, 10]
    assert r.events("protocol_anomaly") == []


def test_binary_copy_out_counts_rows(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner], tmp_path: Path
) -> None:
    r = run_proxy()
    out = tmp_path / "out.bin"
    proc = psql(
        pg,
        r,
        "-c",
        f"\\copy (SELECT generate_series(1, 777)) TO '{out}' WITH (FORMAT binary)",
    )
    assert proc.returncode == 0, proc.stderr
    (copy,) = r.events("query")
    assert copy["db"]["response"]["returned_rows"] == 777
    assert r.events("protocol_anomaly") == []


def test_wrong_password_fails_cleanly(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy()
    proc = psql(pg, r, "-c", "SELECT 1", PGPASSWORD="not-the-password")
    assert proc.returncode == 2
    assert b"password authentication failed" in proc.stderr
    (failure,) = r.events("auth_failure")
    assert failure["event"]["outcome"] == "failure"
    assert failure["event"]["category"] == ["database", "authentication"]
    assert failure["mamori"]["dbguard"]["sqlstate"] == "28P01"
    assert failure["user"]["name"] == "app"
    assert r.events("connect") == [] and r.events("query") == []
    assert "not-the-password" not in r.logs() + str(r.events())
    assert psql(pg, r, "-c", "SELECT 1").returncode == 0  # the proxy is fine


def test_unknown_database_is_a_connect_failure(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()
    proc = psql(pg, r, "-c", "SELECT 1", PGDATABASE="no_such_db")
    assert proc.returncode == 2 and b"does not exist" in proc.stderr
    (failure,) = r.events("connect")
    assert failure["event"]["outcome"] == "failure"
    assert failure["mamori"]["dbguard"]["sqlstate"] == "3D000"


@pytest.mark.parametrize("mode", ["require", "verify-full"])
def test_tls_to_the_client(pg: PgCluster, run_proxy: Callable[..., ProxyRunner], mode: str) -> None:
    r = run_proxy()
    env: dict[str, Any] = {"PGSSLMODE": mode}
    if mode == "verify-full":
        env.update(PGSSLROOTCERT=str(r.home.root / "tls" / "server.crt"), PGHOST="localhost")
    proc = psql(pg, r, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", **env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == b"f"  # the proxy's own leg to the server is plain here
    (q,) = r.events("query")
    assert q["tls"]["established"] is True


def test_client_tls_off_answers_n(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy(client_tls=False)
    assert psql(pg, r, "-c", "SELECT 1", PGSSLMODE="prefer").returncode == 0
    proc = psql(pg, r, "-c", "SELECT 1", PGSSLMODE="require")
    assert proc.returncode == 2 and b"does not support SSL" in proc.stderr


def test_cancel_with_ctrl_c(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    import signal
    import time

    r = run_proxy()
    env = pg.env("app", PGPORT=str(r.port))
    proc = subprocess.Popen(
        ["psql", "-X", "-c", "SELECT pg_sleep(30)"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(1.0)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=20)
    assert time.monotonic() - t0 < 10
    assert b"canceling statement due to user request" in err
    assert r.events("cancel")[0]["mamori"]["dbguard"]["cancelled_by"] == "client"
    (q,) = r.events("query")
    assert q["mamori"]["dbguard"]["sqlstate"] == "57014"
