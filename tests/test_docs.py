"""Docs that cannot drift: the CLI reference is regenerated and compared."""

from __future__ import annotations

from pathlib import Path

from mamori.cli.reference import render

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_cli_reference_is_current() -> None:
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == render(), (
        "docs/cli.md is out of date: run `python -m mamori.cli.reference > docs/cli.md`"
    )


def test_every_command_is_in_the_reference() -> None:
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    for cmd in (
        "mamori init",
        "mamori ledger append",
        "mamori ledger verify",
        "mamori ledger prove",
        "mamori ledger checkpoint",
        "mamori ledger export",
        "mamori ledger witness",
        "mamori ledger retention run",
        "mamori up",
        "mamori tokens add",
        "mamori devices add",
        "mamori users add",
        "mamori users reset",
        "mamori detect test",
        "mamori detect run",
        "mamori detect rules",
        "mamori alerts ack",
        "mamori incidents create",
        "mamori incidents step",
        "mamori incidents csirt",
        "mamori tickets open",
        "mamori notify test",
        "mamori dbguard proxy",
        "mamori dbguard classify",
        "mamori dbguard privileges diff",
        "mamori vuln inventory collect",
        "mamori vuln db import",
        "mamori vuln eol check",
        "mamori vuln scan",
        "mamori vuln triage",
        "mamori vuln vex",
        "mamori vuln report",
    ):
        assert f"## `{cmd}`" in text, cmd


def test_readme_starts_with_exactly_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line.strip()]
    assert [c.split()[0] for c in commands] == ["./scripts/start", "./scripts/test"]
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec ./scripts/test" in ci


def test_start_script_runs_the_service_until_stopped(tmp_path: Path) -> None:
    # The README's first command, end to end, into a scratch home (made beforehand with free
    # ports, so a service already on 5514/6514/8443 cannot interfere).
    import os
    import signal
    import socket
    import subprocess
    import time

    import orjson

    from tests.service.svc import events, service_home

    home = service_home(tmp_path / "home")
    env = dict(os.environ, MAMORI_HOME=str(home.root))
    out_path, err_path = tmp_path / "out", tmp_path / "err"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [str(DOCS.parent / "scripts" / "start")], env=env, stdout=out, stderr=err
        )
    try:
        t0 = time.monotonic()
        while "ready in" not in out_path.read_text() and time.monotonic() - t0 < 120:
            assert proc.poll() is None, err_path.read_text()[-2000:]
            time.sleep(0.1)
        text = out_path.read_text()
        assert "logger --server 127.0.0.1 --port 5514" in text
        assert "syslog  TCP" in text and "HTTPS" in text
        port = orjson.loads((home.run_dir / "listen.json").read_bytes())["ports"]["syslog-tcp"]
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(
                b"<13>1 2026-11-27T00:00:00Z host demo - - - hello mamori user=tanaka action=login\n"
            )
        time.sleep(1.0)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(60)
    assert rc == 0, err_path.read_text()[-2000:]
    assert "Traceback" not in err_path.read_text()
    hello = [e for e in events(home) if e.get("message") == "hello mamori user=tanaka action=login"]
    assert len(hello) == 1 and hello[0]["user"]["name"] == "tanaka"
