"""Shared fixtures: a fresh home, and the real `mamori` command run as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from mamori.home import Home, init

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MAMORI = str(Path(sys.executable).parent / "mamori")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test with a reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"real-world data set {path} is absent (it lives in ../shared/data beside the repo)"
        )
    return path


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every home made in-process hashes the first admin's password: with the real Argon2id
    parameters (64 MiB, 3 passes) that adds ~0.1 s to each of hundreds of tests. Tests of the
    parameters themselves use tests/access/conftest.py's REAL_PARAMETERS; commands run as
    subprocesses (`run()`) always use the real ones."""
    from mamori.access import passwords

    monkeypatch.setattr(
        passwords, "PARAMETERS", passwords.Parameters(time_cost=1, memory_kib=1024, parallelism=1)
    )


@pytest.fixture
def home(tmp_path: Path) -> Home:
    """A freshly initialised home with a fixed origin."""
    return init(tmp_path / "home", origin="test.example/mamori/t1")


def run(
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: dict[str, str] | None = None,
    check_no_traceback: bool = True,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run the installed `mamori` command; a traceback on stderr fails the test."""
    full_env = dict(os.environ)
    full_env.pop("MAMORI_HOME", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [MAMORI, *args],
        input=input,
        capture_output=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )
    if check_no_traceback:
        assert b"Traceback" not in proc.stderr, proc.stderr.decode(errors="replace")
    return proc
