"""The proxy's counters on /metrics (Prometheus exposition) and max_client_connections."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from psycopg import errors

from mamori.dbguard.facts import Decision, Reason, Statement, Verdict
from mamori.dbguard.guard import Guard
from mamori.dbguard.settings import DbGuardConfig
from mamori.dbguard.stats import DbGuardCollector
from tests.dbguard.harness import ProxyRunner
from tests.dbguard.pg import PgCluster, wait_until

NO = Reason("test.no", "no", "DB-1")


class NoSecrets:
    def decide(self, stmt: Statement, analysis: Any) -> Decision:
        return Decision(Verdict.BLOCK, (NO,)) if "secret" in stmt.text else Decision()

    def weigh(self, stmt: Statement, found: Decision) -> Decision:
        return found


def _guard(cfg: DbGuardConfig) -> Guard:
    return Guard(cfg, firewall=NoSecrets())


def _metrics(r: ProxyRunner) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(DbGuardCollector(r.group.readings))
    out: dict[str, float] = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("mamori_dbguard_") and 'proxy="t"' in line:
            name, value = line.rsplit(" ", 1)
            out[name.split("{")[0]] = float(value)
    return out


def test_counters_follow_the_traffic(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy(guard_factory=_guard, name="t")
    with psycopg.connect(pg.dsn("app", port=r.port), autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM generate_series(1, 5)").fetchone() == (5,)
        conn.execute("SELECT * FROM generate_series(1, 7)").fetchall()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT 'secret'")
        m = _metrics(r)
        assert m["mamori_dbguard_sessions_open"] == 1
    r.settle()
    m = _metrics(r)
    assert m["mamori_dbguard_sessions_total"] == 1
    assert m["mamori_dbguard_sessions_open"] == 0
    assert m["mamori_dbguard_statements_total"] == 3
    assert m["mamori_dbguard_statements_blocked_total"] == 1
    assert m["mamori_dbguard_statements_failed_total"] == 1
    assert m["mamori_dbguard_statements_alerted_total"] == 1
    assert m["mamori_dbguard_rows_returned_total"] == 1 + 7
    assert m["mamori_dbguard_events_waiting"] == 0


def test_connections_beyond_the_limit_are_refused_as_postgresql_does(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy(max_client_connections=2, name="t")
    first = psycopg.connect(pg.dsn("app", port=r.port), autocommit=True)
    second = psycopg.connect(pg.dsn("app", port=r.port), autocommit=True)
    try:
        with pytest.raises(psycopg.OperationalError, match="too many clients"):
            psycopg.connect(pg.dsn("app", port=r.port), autocommit=True)
        assert _metrics(r)["mamori_dbguard_sessions_refused_total"] == 1
        assert first.execute("SELECT 1").fetchone() == (1,)  # the others go on
    finally:
        first.close()
    assert wait_until(lambda: r.sessions() == 1)
    with psycopg.connect(pg.dsn("app", port=r.port), autocommit=True) as third:
        assert third.execute("SELECT 3").fetchone() == (3,)  # room again
    second.close()
    assert "max_client_connections reached" in r.logs()
