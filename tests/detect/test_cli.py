"""`mamori detect test`, run as a user runs it."""

from __future__ import annotations

from pathlib import Path

import orjson

from tests.conftest import run

RULES = """title: curl to shell
id: 11111111-1111-1111-1111-111111111111
logsource: {product: linux, service: sshd}
detection:
  sel:
    Image|endswith: /bash
    CommandLine|contains|all: [curl, '|sh']
  filter:
    User: root
  condition: sel and not filter
"""
BAD = """title: bad
id: 22222222-2222-2222-2222-222222222222
logsource: {product: linux}
detection:
  sel: {a|re: '('}
  condition: sel
"""
EVENTS = [
    {"process": {"executable": "/bin/bash", "command_line": "CURL x |sh"}, "user": {"name": "b"}},
    None,  # a blank line still counts
    {"process.executable": "/bin/bash", "process.command_line": "curl|sh", "user.name": "root"},
    {
        "process": {"executable": "/bin/bash", "command_line": "curl|sh", "name": "sshd"},
        "log": {"syslog": {"appname": "sshd"}},
    },
]


def write(tmp_path: Path, rules: str) -> tuple[Path, Path]:
    r = tmp_path / "rules.yml"
    r.write_text(rules)
    e = tmp_path / "events.jsonl"
    e.write_bytes(b"".join(orjson.dumps(x) + b"\n" if x else b"\n" for x in EVENTS))
    return r, e


def lines(out: bytes) -> list[object]:
    return [orjson.loads(x) for x in out.splitlines()]


def test_matches_are_printed_with_line_numbers(tmp_path: Path) -> None:
    r, e = write(tmp_path, RULES)
    p = run(["detect", "test", "--rules", str(r), "--events", str(e), "--json"])
    assert p.returncode == 0, p.stderr
    rid = "11111111-1111-1111-1111-111111111111"
    assert lines(p.stdout) == [{"rule": rid, "events": [0]}, {"rule": rid, "events": [3]}]


def test_match_logsource(tmp_path: Path) -> None:
    r, e = write(tmp_path, RULES)
    p = run(["detect", "test", "--rules", str(r), "--events", str(e), "--match-logsource"])
    assert p.returncode == 0, p.stderr
    assert [m["events"] for m in lines(p.stdout)] == [[3]]  # type: ignore[index]


def test_bad_rule_is_reported_and_others_still_run(tmp_path: Path) -> None:
    r, e = write(tmp_path, RULES + "---\n" + BAD)
    p = run(["detect", "test", "--rules", str(r), "--events", str(e)])
    assert p.returncode == 1
    assert len(lines(p.stdout)) == 2
    err = p.stderr.decode()
    assert f"{r}: 22222222-2222-2222-2222-222222222222" in err
    assert len(err.splitlines()) == 1


def test_no_rule_at_all_is_an_error(tmp_path: Path) -> None:
    _, e = write(tmp_path, RULES)
    p = run(["detect", "test", "--rules", str(tmp_path / "nope"), "--events", str(e)])
    assert p.returncode == 2
    assert b"no rule could be loaded" in p.stderr


def test_bad_events_line_is_an_error(tmp_path: Path) -> None:
    r, e = write(tmp_path, RULES)
    e.write_text('{"a": 1}\n[1]\n')
    p = run(["detect", "test", "--rules", str(r), "--events", str(e)])
    assert p.returncode == 2
    assert b"events line 1: not a JSON object" in p.stderr


CORRELATION_RULES = """title: failed ssh password
id: 33333333-3333-3333-3333-333333333333
name: ssh_failed_password
logsource: {product: linux, service: sshd}
detection:
  sel:
    event.action: ssh_login
    event.outcome: failure
  condition: sel
---
title: many failed ssh passwords from one address
id: 44444444-4444-4444-4444-444444444444
correlation:
  type: event_count
  rules: [ssh_failed_password]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
  generate: false
"""


def _failure(ip: str, t: str) -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-27T10:{t}Z",
        "event": {"action": "ssh_login", "outcome": "failure"},
        "source": {"ip": ip},
    }


def test_a_correlation_rule_fires_with_every_event_that_made_it(tmp_path: Path) -> None:
    """Correlations are evaluated by `detect test` (they were reported "not evaluated" before
    the correlation engine was wired); generate: false keeps the base rule's own matches out."""
    rules = tmp_path / "rules.yml"
    rules.write_text(CORRELATION_RULES)
    events = [
        _failure("192.0.2.1", "00:00"),
        _failure("198.51.100.9", "00:30"),  # another group
        _failure("192.0.2.1", "01:00"),
        _failure("192.0.2.1", "04:59"),  # third within 5 minutes of the first: fires
        _failure("192.0.2.1", "20:00"),  # alone, much later
    ]
    src = tmp_path / "events.jsonl"
    src.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    proc = run(["detect", "test", "--rules", str(rules), "--events", str(src)])
    assert proc.returncode == 0, proc.stderr
    out = [orjson.loads(line) for line in proc.stdout.splitlines()]
    assert out == [{"rule": "44444444-4444-4444-4444-444444444444", "events": [0, 2, 3]}]
