"""`mamori dbguard proxy`: the standalone proxy, its events in the ledger, and its refusal
while another process writes the ledger."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from mamori.home import Home
from mamori.ledger.writer import Sequencer
from tests.conftest import MAMORI
from tests.dbguard.pg import PgCluster
from tests.service.svc import events as ledger_events

# Until `dbguard` is added to mamori/cli/main.py, the group is run on its own.
_ALONE = (
    "import sys\n"
    "from mamori.cli.common import fail\n"
    "from mamori.cli.dbguard import app\n"
    "from mamori.errors import MamoriError\n"
    "try:\n"
    "    app(args=sys.argv[1:], prog_name='mamori dbguard')\n"
    "except MamoriError as e:\n"
    "    fail(e.diagnostics())\n"
)


def command() -> list[str]:
    from mamori.cli.main import app

    if any(g.name == "dbguard" for g in app.registered_groups):
        return [MAMORI, "dbguard"]
    return [sys.executable, "-c", _ALONE]


def start(home: Home, pg: PgCluster, out: Path) -> tuple[subprocess.Popen[bytes], int]:
    env = dict(os.environ)
    env.pop("MAMORI_HOME", None)
    args = [
        "proxy",
        "--home",
        str(home.root),
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        f"127.0.0.1:{pg.port}",
        "--upstream-tls",
        "disable",
    ]
    with out.open("wb") as f:
        proc = subprocess.Popen([*command(), *args], stdout=f, stderr=subprocess.PIPE, env=env)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", out.read_text())
        if m:
            return proc, int(m.group(1))
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        time.sleep(0.05)
    raise AssertionError("the proxy did not start")


def test_standalone_proxy_records_to_the_ledger(
    pg: PgCluster, guard_home: Home, tmp_path: Path
) -> None:
    proc, port = start(guard_home, pg, tmp_path / "out")
    try:
        psql = subprocess.run(
            ["psql", "-X", "-A", "-t", "-c", "SELECT count(*) FROM generate_series(1, 10)"],
            env=pg.env("app", PGPORT=str(port)),
            capture_output=True,
            timeout=30,
            check=False,
        )
        assert psql.returncode == 0, psql.stderr
        assert psql.stdout.strip() == b"10"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    events = ledger_events(guard_home)
    actions = [e["event"]["action"] for e in events]
    assert "dbguard.proxy_start" in actions and actions[-1] == "dbguard.proxy_stop"
    guard = [e["event"]["action"] for e in events if e["event"].get("module") == "dbguard"]
    # (a "decision" follows the query when the test runs outside business hours)
    assert [a for a in guard if a != "decision"] == ["connect", "query", "disconnect"]
    (query,) = [e for e in events if e["event"]["action"] == "query"]
    assert query["db"]["response"]["returned_rows"] == 1
    assert query["service"]["name"] == "proxy"


def test_standalone_proxy_refused_while_the_ledger_is_held(
    pg: PgCluster, guard_home: Home, tmp_path: Path
) -> None:
    with Sequencer(guard_home):  # as `mamori up` holds it
        proc = subprocess.run(
            [
                *command(),
                "proxy",
                "--home",
                str(guard_home.root),
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                f"127.0.0.1:{pg.port}",
            ],
            capture_output=True,
            timeout=60,
            check=False,
        )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "writes the ledger" in err and "[[dbguard]]" in err, err
    assert "Traceback" not in err


def test_bad_arguments_are_named(guard_home: Home) -> None:
    proc = subprocess.run(
        [
            *command(),
            "proxy",
            "--home",
            str(guard_home.root),
            "--upstream",
            "db.internal",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "is not HOST:PORT" in proc.stderr.decode()
    proc = subprocess.run(
        [
            *command(),
            "proxy",
            "--home",
            str(guard_home.root),
            "--upstream",
            "db:5432",
            "--upstream-tls",
            "sometimes",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "upstream_tls = 'sometimes' is not known" in proc.stderr.decode()
