"""Detection over the ledger: history runs (`mamori detect run`), the live cursor and the
correlation warm-up after a restart."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from pathlib import Path

import orjson
import pytest

from mamori.detect.live import LIVE, Cursors, LedgerDetector, build_detector, history
from mamori.home import Home
from mamori.ledger.canonical import canonical
from mamori.ledger.store import Reader
from mamori.ledger.writer import Sequencer
from tests.conftest import run

FAIL_RULE = """\
title: ssh failure
id: 11111111-1111-4111-8111-111111111111
status: test
level: low
tags: [clause.SEC-5]
logsource: {product: linux, service: sshd}
detection:
  sel: {event.outcome: failure, event.action: ssh_login}
  condition: sel
"""

BURST_RULE = """\
title: ssh failure burst
id: 22222222-2222-4222-8222-222222222222
status: test
level: high
tags: [clause.SEC-5, clause.APP-7]
correlation:
  type: event_count
  generate: true  # the failures alert on their own too
  rules: [11111111-1111-4111-8111-111111111111]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
"""


def _home_without_builtin(home: Home, rules: Path) -> Home:
    text = home.config_path.read_text()
    text = text.replace("builtin = true", "builtin = false").replace(
        "rules = []", f"rules = [{json.dumps(str(rules))}]", 1
    )
    home.config_path.write_text(text)
    return home


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    d = tmp_path / "rules"
    d.mkdir()
    (d / "fail.yml").write_text(FAIL_RULE)
    (d / "burst.yml").write_text(BURST_RULE)
    return d


def _ssh(ip: str, second: int, *, outcome: str = "failure") -> bytes:
    return canonical(
        {
            "@timestamp": f"2026-11-27T10:00:{second:02d}.000000Z",
            "event": {"action": "ssh_login", "outcome": outcome},
            "process": {"name": "sshd"},
            "source": {"ip": ip},
            "user": {"name": "root"},
            "host": {"name": "web1"},
        }
    )


def _append(home: Home, events: list[bytes]) -> None:
    with Sequencer(home) as seq:
        seq.commit(events)


def test_history_finds_base_and_correlation_detections(home: Home, rules_dir: Path) -> None:
    _home_without_builtin(home, rules_dir)
    _append(home, [_ssh("192.0.2.1", 1), _ssh("192.0.2.1", 2, outcome="success")])
    _append(home, [_ssh("192.0.2.1", 3), _ssh("192.0.2.9", 4), _ssh("192.0.2.1", 5)])
    found, problems, read = history(home, home.config())
    assert problems == []
    assert read == 5
    base = [d for d in found if not d.correlation]
    assert [d.events for d in base] == [(0,), (2,), (3,), (4,)]
    assert {d.severity for d in base} == {"low"}
    assert base[0].clauses == ("SEC-5",)
    burst = [d for d in found if d.correlation]
    assert len(burst) == 1
    assert burst[0].events == (0, 2, 4)
    assert dict(burst[0].group) == {"source.ip": "192.0.2.1"}
    assert burst[0].clauses == ("SEC-5", "APP-7")


def test_history_reads_only_the_range_asked(home: Home, rules_dir: Path) -> None:
    _home_without_builtin(home, rules_dir)
    _append(home, [_ssh("192.0.2.1", 1)])
    with Reader(home.ledger_db) as r:
        later = r.entry(0)
    assert later is not None
    _append(home, [_ssh("192.0.2.1", 2)])
    with Reader(home.ledger_db) as r:
        second = r.entry(1)
    assert second is not None
    found, _p, read = history(home, home.config(), since_us=second[0])
    assert read == 1 and [d.events for d in found] == [(1,)]
    found, _p, read = history(home, home.config(), until_us=second[0])
    assert read == 1 and [d.events for d in found] == [(0,)]


def test_restart_neither_repeats_nor_loses_a_straddling_correlation(
    home: Home, rules_dir: Path
) -> None:
    _home_without_builtin(home, rules_dir)
    cfg = home.config()
    _append(home, [_ssh("192.0.2.1", 1), _ssh("192.0.2.1", 2)])
    built = build_detector(home, cfg)
    first = LedgerDetector(built.detector, 0, warm_up_s=built.max_timespan_s)
    with Reader(home.ledger_db) as r:
        step = first.step(r)
    assert [d.events for d in step.detections] == [(0,), (1,)]
    cursors = Cursors(home)
    cursors.put(step.next_index)
    # The service stops; one more failure arrives; a new process resumes at the cursor.
    _append(home, [_ssh("192.0.2.1", 3)])
    built = build_detector(home, cfg)
    again = LedgerDetector(built.detector, cursors.get(LIVE), warm_up_s=built.max_timespan_s)
    with Reader(home.ledger_db) as r:
        step = again.step(r)
    cursors.close()
    assert [(d.correlation, d.events) for d in step.detections] == [
        (False, (2,)),
        (True, (0, 1, 2)),
    ]


def test_pruned_entries_are_skipped_and_counted(home: Home, rules_dir: Path) -> None:
    _home_without_builtin(home, rules_dir)
    _append(home, [_ssh("192.0.2.1", 1), _ssh("192.0.2.2", 2)])
    # What retention leaves of an event: its leaf hash, not its body.
    import sqlite3

    conn = sqlite3.connect(home.ledger_db)
    triggers = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='trigger'")]
    for t in triggers:
        conn.execute(f'DROP TRIGGER "{t}"')
    conn.execute("UPDATE events SET body = NULL WHERE idx = 0")
    conn.commit()
    conn.close()
    built = build_detector(home, home.config())
    with Reader(home.ledger_db) as r:
        step = LedgerDetector(built.detector, 0, warm=True).step(r)
    assert step.pruned == 1
    assert [d.events for d in step.detections] == [(1,)]


def test_cli_detect_run(home: Home, rules_dir: Path) -> None:
    _home_without_builtin(home, rules_dir)
    _append(home, [_ssh("192.0.2.1", s) for s in (1, 2, 3)])
    p = run(["detect", "run", "--home", str(home.root), "--json"])
    assert p.returncode == 0, p.stderr
    rows = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["rule"] for r in rows] == [
        "11111111-1111-4111-8111-111111111111",
        "11111111-1111-4111-8111-111111111111",
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    ]
    assert rows[-1]["events"] == [0, 1, 2] and rows[-1]["severity"] == "high"
    assert b"3 entries read, 4 detection(s)" in p.stderr
    p = run(["detect", "run", "--home", str(home.root), "--since", "garbage"])
    assert p.returncode == 2 and b"--since 'garbage' is not a time" in p.stderr


def test_cli_detect_run_reports_a_bad_rule_and_runs_the_others(
    home: Home, rules_dir: Path, tmp_path: Path
) -> None:
    _home_without_builtin(home, rules_dir)
    bad = tmp_path / "bad.yml"
    bad.write_text(textwrap.dedent("title: x\ndetection: {condition: nope}\n"))
    _append(home, [_ssh("192.0.2.1", 1)])
    p = run(["detect", "run", "--home", str(home.root), "--rules", str(bad), "--json"])
    assert p.returncode == 1
    assert str(bad).encode() in p.stderr
    assert len(p.stdout.splitlines()) == 1


def test_cli_detect_rules_lists_clauses(home: Home, rules_dir: Path) -> None:
    _home_without_builtin(home, rules_dir)
    p = run(["detect", "rules", "--home", str(home.root), "--json"])
    assert p.returncode == 0, p.stderr
    rows = {r["id"]: r for r in map(json.loads, p.stdout.splitlines())}
    assert rows["22222222-2222-4222-8222-222222222222"]["clauses"] == ["SEC-5", "APP-7"]
    assert rows["22222222-2222-4222-8222-222222222222"]["correlation"] is True
    assert rows["11111111-1111-4111-8111-111111111111"]["level"] == "low"


def test_a_forged_future_timestamp_does_not_switch_correlations_off(
    home: Home, rules_dir: Path
) -> None:
    """Regression: one event dated 2099 pushed correlation time forward, so every real match
    after it was "late" and dropped: any sender could disable the brute-force rules with one
    line. Event times are now capped at the ledger's receive time."""
    _home_without_builtin(home, rules_dir)
    forged = orjson.loads(_ssh("198.51.100.1", 0))
    forged["@timestamp"] = "2099-01-01T00:00:00.000000Z"
    _append(home, [canonical(forged)])
    now = dt.datetime.now(dt.UTC)
    real = []
    for s in (1, 2, 3):
        ev = orjson.loads(_ssh("192.0.2.1", 0))
        ev["@timestamp"] = (now - dt.timedelta(seconds=10 - s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        real.append(canonical(ev))
    _append(home, real)
    found, _p, _read = history(home, home.config())
    bursts = [d for d in found if d.correlation]
    assert [d.events for d in bursts] == [(1, 2, 3)]
    assert found[0].events == (0,) and found[0].last_seen < 4_102_444_800  # not 2099
