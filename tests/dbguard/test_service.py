"""The database guard inside the real `mamori up` ([[dbguard]] in mamori.toml): psql through
it, the statement in the ledger with its attribution, an injection alerted on, a clean stop."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.dbguard.pg import PgCluster
from tests.service.svc import events, running, service_home


def _statements(home_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e
        for e in home_events
        if e.get("event", {}).get("module") == "dbguard" and e["event"].get("action") == "query"
    ]


def test_mamori_up_runs_the_proxy(pg: PgCluster, tmp_path: Path) -> None:
    home = service_home(
        tmp_path / "home",
        extra=(
            "\n[[dbguard]]\n"
            'name = "main"\n'
            'listen = "127.0.0.1:0"\n'
            f'upstream = "{pg.host}:{pg.port}"\n'
            'upstream_tls = "disable"\n'
            'firewall = "monitor"\n'
            'time_policy = "off"\n'  # the clock is not what this test is about
        ),
    )
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
