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
    ):
        assert f"## `{cmd}`" in text, cmd


def test_readme_starts_with_exactly_two_commands() -> None:
    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in first_block.splitlines() if line.strip()]
    assert [c.split()[0] for c in commands] == ["./scripts/start", "./scripts/test"]
    ci = (DOCS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec ./scripts/test" in ci


def test_start_script_shows_the_ledger_working(tmp_path: Path) -> None:
    # The README's first command, end to end, into a scratch home.
    import os
    import subprocess

    env = dict(os.environ, MAMORI_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [str(DOCS.parent / "scripts" / "start")],
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert '{"appended":60,"rejected":1,"tree_size":61}' in out
    assert "result         OK: every check above passed" in out
    assert "ログインに失敗しました" in out
    assert "Traceback" not in proc.stderr.decode()
