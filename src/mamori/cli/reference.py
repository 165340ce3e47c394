"""The CLI reference (docs/cli.md), generated from the CLI itself so that it cannot drift.

Each command's `--help` is captured at a fixed width. Regenerate with
`python -m mamori.cli.reference > docs/cli.md`; a test fails when the file differs.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.testing import CliRunner

from mamori.cli.main import app

WIDTH = "100"


def _paths(cmd: Any, path: list[str]) -> list[list[str]]:
    out = [path]
    commands = getattr(cmd, "commands", None) or {}
    for name in sorted(commands):
        out.extend(_paths(commands[name], [*path, name]))
    return out


def render() -> str:
    """The whole reference as Markdown."""
    runner = CliRunner()
    env = {"COLUMNS": WIDTH, "TERM": "dumb", "NO_COLOR": "1", "MAMORI_HOME": ""}
    saved = {k: os.environ.get(k) for k in env}
    lines = [
        "# CLI reference",
        "",
        "Generated from the CLI by `python -m mamori.cli.reference > docs/cli.md`; do not edit by hand.",
        "",
    ]
    try:
        os.environ.update(env)
        for path in _paths(typer.main.get_command(app), []):
            result = runner.invoke(app, [*path, "--help"], prog_name="mamori", env=env)
            if result.exit_code != 0:
                raise RuntimeError(f"mamori {' '.join(path)} --help failed: {result.output}")
            text = "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines())
            lines += [f"## `{' '.join(['mamori', *path])}`", "", "```text", text, "```", ""]
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
