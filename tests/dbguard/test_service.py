"""The database guard inside the real `mamori up` ([[dbguard]] in mamori.toml): psql through
it, the statement in the ledger with its attribution, an injection alerted on, a clean stop."""

from __future__ import annotations

import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from tests.dbguard.pg import PgCluster
from tests.service.svc import events, ingest_token, running, service_home


def _statements(home_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in home_events
        if e.get("event", {}).get("module") == "dbguard" and e["event"].get("action") == "query"
    ]


def _dbguard(pg: PgCluster, *lines: str) -> str:
    """A [[dbguard]] table named main in front of `pg`, on a free port, plus `lines`."""
    head = [
        "[[dbguard]]",
        'name = "main"',
        'listen = "127.0.0.1:0"',
        f'upstream = "{pg.host}:{pg.port}"',
        'upstream_tls = "disable"',
    ]
    return "\n" + "\n".join([*head, *lines]) + "\n"


def test_mamori_up_runs_the_proxy(pg: PgCluster, tmp_path: Path) -> None:
    home = service_home(
        tmp_path / "home",
        # the clock is not what this test is about
        extra=_dbguard(pg, 'firewall = "monitor"', 'time_policy = "off"'),
    )
    token = ingest_token(home, "prom", scope="metrics")
    with running(home) as up:
        port = up.ports["dbguard-main"]
        env = pg.env("app", PGPORT=str(port), PGHOST="127.0.0.1", PGAPPNAME="billing")
        done = subprocess.run(
            [
                "psql",
                "-X",
                "-A",
                "-t",
                "-c",
                "SELECT count(*) FROM generate_series(1, 1234)",
                "-c",
                "SELECT * FROM generate_series(1, 3) AS g(id) WHERE id = 1 OR '1'='1'",
            ],
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == [b"1234", b"1", b"2", b"3"]
        # the proxy's counters on /metrics (Prometheus)
        metrics = httpx.get(
            f"https://localhost:{up.ports['https']}/metrics",
            headers={"Authorization": f"Bearer {token}"},
            verify=ssl.create_default_context(cafile=str(home.root / "tls" / "server.crt")),
            timeout=30,
        )
        assert metrics.status_code == 200, metrics.text
        assert 'mamori_dbguard_statements_total{proxy="main"} 2.0' in metrics.text
        assert 'mamori_dbguard_statements_alerted_total{proxy="main"} 2.0' in metrics.text
        assert 'mamori_dbguard_rows_returned_total{proxy="main"} 4.0' in metrics.text
    stmts = _statements(events(home))
    assert len(stmts) == 2
    first, second = stmts
    assert first["db"]["user"] == "app" and first["db"]["name"] == "app"
    assert first["mamori"]["dbguard"]["application"] == "billing"
    assert first["db"]["response"]["returned_rows"] == 1
    assert "1234" not in first["db"]["query"]["text"]  # literals are not logged
    # monitor with an empty allowlist: a statement never seen is alerted on, nothing more
    first_reasons = {r["code"] for r in first["mamori"]["dbguard"]["decision"]["reasons"]}
    assert first_reasons == {"firewall.unknown_fingerprint"}
    reasons = {r["code"] for r in second["mamori"]["dbguard"]["decision"]["reasons"]}
    assert "sqli.tautology" in reasons
    assert second["mamori"]["dbguard"]["decision"]["verdict"] in ("alert", "block")
    assert second["db"]["response"]["returned_rows"] == 3  # monitor refuses nothing


def test_mamori_up_checks_privileges_against_the_baseline(pg: PgCluster, tmp_path: Path) -> None:
    """DB-1: `[[dbguard]] privileges_dsn` makes `mamori up` diff the server against its
    approved baseline — a grant made on the server directly, never through the proxy, is a
    ``dbguard.privilege_drift`` event in the ledger and an alert."""
    from mamori.alerts.store import AlertStore
    from mamori.dbguard.privileges import approve, snapshot

    dsn = pg.dsn("postgres")
    pg.sql("DROP ROLE IF EXISTS drift_probe; CREATE ROLE drift_probe LOGIN")
    try:
        home = service_home(
            tmp_path / "home",
            extra=_dbguard(pg, f"privileges_dsn = '{dsn}'", "privileges_interval_s = 3600"),
        )
        approve(home, snapshot(dsn), "tester")
        pg.sql("ALTER ROLE drift_probe CREATEROLE")  # straight on the server
        with running(home) as up:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                drifts = [e for e in events(home) if _action(e) == "dbguard.privilege_drift"]
                with AlertStore.open(home) as store:
                    alerts = [a for a in store.list() if "DB-1" in a.clauses]
                if drifts and alerts:
                    break
                time.sleep(0.2)
            assert "password" not in up.stderr()
        assert len(drifts) == 1, up.stderr()
        audit = drifts[0]["mamori"]["audit"]
        assert (audit["kind"], audit["role"], audit["privilege"]) == (
            "attribute_on",
            "drift_probe",
            "CREATEROLE",
        )
        titles = {a.title for a in alerts}
        assert "Database role given a superuser-class attribute outside the baseline" in titles
    finally:
        pg.sql("DROP ROLE IF EXISTS drift_probe")


def _action(e: dict[str, Any]) -> str:
    return str(e.get("event", {}).get("action", ""))
