"""sqlmap (Debian's) against the sign-in form and the search parameters: nothing injectable.

Marked slow: sqlmap sends thousands of requests. Runs against the real `mamori up`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.service.svc import ingest_token, running, service_home

SQLMAP = shutil.which("sqlmap")
pytestmark = [
    pytest.mark.slow,
    # Each sign-in attempt costs an Argon2id hash (about 0.1 s, at most 4 at once): sqlmap's
    # thousands of requests take about 5 minutes alone, longer on a busy machine.
    pytest.mark.timeout(1800),
    pytest.mark.skipif(SQLMAP is None, reason="sqlmap is not installed (apt-get install sqlmap)"),
]


def _sqlmap(tmp_path: Path, *args: str) -> str:
    assert SQLMAP is not None
    proc = subprocess.run(
        [
            SQLMAP,
            "--batch",
            "--flush-session",
            "--disable-coloring",
            "--level=3",
            "--risk=2",
            "--threads=4",
            "--timeout=20",
            "--ignore-code=401",  # a failed sign-in answers 401: that is the page under test
            f"--output-dir={tmp_path / 'sqlmap'}",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert "connection refused" not in out.lower(), out[-3000:]
    return out


def _not_injectable(out: str) -> None:
    lowered = out.lower()
    assert "is vulnerable" not in lowered and "appears to be injectable" not in lowered, out[-4000:]
    assert (
        "do not appear to be injectable" in lowered or "does not seem to be injectable" in lowered
    ), out[-4000:]


def test_sign_in_form_is_not_injectable(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    with running(home) as up:
        origin = f"https://localhost:{up.ports['https']}"
        out = _sqlmap(
            tmp_path,
            "-u",
            f"{origin}/signin",
            "--data=name=nobody&password=not-the-password&code=123456",
            "-p",
            "name,password,code",
            f"--headers=Origin: {origin}",
        )
    _not_injectable(out)


def test_search_parameters_are_not_injectable(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    token = ingest_token(home, "sqlmap", scope="read")
    with running(home) as up:
        origin = f"https://localhost:{up.ports['https']}"
        out = _sqlmap(
            tmp_path,
            "-u",
            f"{origin}/api/v1/search?q=failure&since=7d&limit=10",
            "-p",
            "q,since,limit",
            f"--headers=Authorization: Bearer {token}",
        )
    _not_injectable(out)
