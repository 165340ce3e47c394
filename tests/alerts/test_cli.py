"""`mamori alerts …` end to end: the real command in a subprocess, over a real home."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence

import orjson
import pytest

from mamori.alerts.store import AlertStore
from mamori.home import Home
from tests.alerts.conftest import Notified
from tests.alerts.helpers import T0, detection, named
from tests.conftest import run

# Until `mamori alerts` is registered in mamori.cli.main (the lead adds it), the same entry
# point is run with the sub-application added, so these tests run either way.
_SHIM = (
    "import sys\n"
    "from mamori.cli import alerts, main\n"
    "if 'alerts' not in {g.name for g in main.app.registered_groups}:\n"
    "    main.app.add_typer(alerts.app, name='alerts')\n"
    "main.main(sys.argv[1:])\n"
)


def mamori(args: Sequence[str]) -> subprocess.CompletedProcess[bytes]:
    from mamori.cli import main

    if "alerts" in {g.name for g in main.app.registered_groups}:
        return run(list(args))
    proc = subprocess.run(
        [sys.executable, "-c", _SHIM, *args], capture_output=True, timeout=120, check=False
    )
    assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc


@pytest.fixture
def seeded(home: Home, notified: Notified) -> list[int]:
    """Three alerts: high (open), critical (open), low (closed)."""
    with AlertStore.open(home) as s:
        ids: list[int] = [
            s.ingest([detection(host=h, severity=v, events=(i,))], now=T0 + i)[0].alert
            for i, (h, v) in enumerate([("a", "high"), ("b", "critical"), ("c", "low")])
        ]
        s.close(ids[2], "ops", "benign")
    return ids


def test_list_and_show(home: Home, seeded: list[int]) -> None:
    h = ["--home", str(home.root)]
    out = mamori(["alerts", "list", *h])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()
    assert lines[0].startswith("ID") and len(lines) == 4
    assert lines[1].split()[:3] == [str(seeded[2]), "closed", "low"]
    only = mamori(["alerts", "list", "--state", "open", "--severity", "critical", "--json", *h])
    docs = orjson.loads(only.stdout)
    assert [d["id"] for d in docs] == [seeded[1]] and docs[0]["raised_at"].endswith("Z")
    assert (
        orjson.loads(mamori(["alerts", "list", "--limit", "1", "--json", *h]).stdout)[0]["id"]
        == seeded[2]
    )
    shown = mamori(["alerts", "show", str(seeded[0]), *h])
    text = shown.stdout.decode()
    assert shown.returncode == 0 and "SSH brute force (rule-ssh)" in text and "SEC-5" in text
    assert "raised" in text.split("history", 1)[1]
    doc = orjson.loads(mamori(["alerts", "show", str(seeded[0]), "--json", *h]).stdout)
    assert doc["events"] == [0] and doc["history"][0]["action"] == "raised"


def test_ack_and_close_record_who_did_it(home: Home, seeded: list[int]) -> None:
    h = ["--home", str(home.root)]
    ack = mamori(["alerts", "ack", str(seeded[0]), "--note", "looking", "--as", "tanaka", *h])
    assert ack.returncode == 0 and b"acknowledged alert" in ack.stdout
    closed = mamori(["alerts", "close", str(seeded[0]), "--reason", "patched", *h])
    assert closed.returncode == 0, closed.stderr
    with AlertStore.open(home) as s:
        a = s.get(seeded[0])
    assert (a.acknowledged_by, a.close_reason) == ("tanaka", "patched")
    assert a.closed_by and a.closed_by != "tanaka"  # the operating-system user
    assert named(home, "alert.acknowledged")[0]["actor"] == "tanaka"
    assert named(home, "alert.closed")[-1]["reason"] == "patched"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ack", "3"], "alert 3 is closed: only an open alert can be acknowledged"),
        (["close", "3", "--reason", "x"], "alert 3 is closed already"),
        (["close", "1", "--reason", " "], "closing an alert needs a reason"),
        (["show", "99"], "there is no alert 99"),
        (["list", "--state", "new"], "'new' is not an alert state"),
        (["list", "--severity", "urgent"], "'urgent' is not a severity"),
    ],
)
def test_refusals_are_messages_with_status_2(
    home: Home, seeded: list[int], args: list[str], message: str
) -> None:
    assert seeded == [1, 2, 3]
    out = mamori(["alerts", *args, "--home", str(home.root)])
    assert out.returncode == 2
    err = out.stderr.decode()
    assert err.startswith("mamori: ") and message in err and "fix: " in err


def test_close_needs_the_reason_option(home: Home, seeded: list[int]) -> None:
    out = mamori(["alerts", "close", "1", "--home", str(home.root)])
    assert out.returncode == 2 and b"--reason" in out.stderr


def test_escalate_runs_now(home: Home, notified: Notified) -> None:
    with AlertStore.open(home) as s:
        s.ingest([detection(severity="critical")], now=T0)  # long ago: due
    h = ["--home", str(home.root)]
    out = mamori(["alerts", "escalate", "--json", *h])
    assert out.returncode == 0, out.stderr
    (doc,) = orjson.loads(out.stdout)
    assert doc["level"] == 1
    again = mamori(["alerts", "escalate", *h])
    assert again.returncode == 0 and b"no alert is due" in again.stderr
    assert named(home, "alert.escalated")[0]["level"] == 1
    # the subprocess notified through the real notify package or recorded that it could not
    assert named(home, "alert.escalated") and notified.calls[0][1] == "alert"


def test_no_home_is_a_message(tmp_path: object) -> None:
    out = mamori(["alerts", "list", "--home", "/nonexistent/mamori-home"])
    assert out.returncode == 2 and b"does not exist" in out.stderr
