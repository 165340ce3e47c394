"""Fixtures of the database guard's tests: a private PostgreSQL cluster for the whole session
(``pg``, see tests/dbguard/pg.py) and proxies in front of it (``run_proxy``, see
tests/dbguard/harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mamori.home import Home, init
from tests.dbguard.harness import ProxyRunner, proxy_config
from tests.dbguard.pg import PgCluster, PgUnavailable


@pytest.fixture(scope="session")
def pg() -> Iterator[PgCluster]:
    """One private cluster for the session (skips when PostgreSQL is not installed)."""
    try:
        cluster = PgCluster.create()
    except PgUnavailable as e:
        pytest.skip(str(e))
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def guard_home(tmp_path: Path) -> Home:
    return init(tmp_path / "home", origin="test.example/mamori/dbguard")


@pytest.fixture
def run_proxy(pg: PgCluster, guard_home: Home) -> Iterator[Callable[..., ProxyRunner]]:
    """Start a proxy in front of `pg` (settings as keyword arguments of DbGuardConfig, plus
    `guard_factory`), events going to a real ledger in `guard_home`; stopped after the test."""
    runners: list[ProxyRunner] = []

    def start(guard_factory: Any = None, **settings: Any) -> ProxyRunner:
        runner = ProxyRunner(guard_home, [proxy_config(pg, **settings)], guard_factory)
        runners.append(runner)
        return runner

    try:
        yield start
    finally:
        for r in runners:
            r.close()
