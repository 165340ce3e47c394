"""Fixtures for the access tests."""

from __future__ import annotations

import pytest

from mamori.access import passwords

REAL_PARAMETERS = passwords.PARAMETERS
FAST = passwords.Parameters(time_cost=1, memory_kib=1024, parallelism=1)


@pytest.fixture
def fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 parameters for tests that hash many passwords (the real ones take about a
    fifth of a second each; tests of the parameters themselves use REAL_PARAMETERS)."""
    monkeypatch.setattr(passwords, "PARAMETERS", FAST)


@pytest.fixture
def real_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real Argon2id parameters, for tests of the parameters themselves (tests/conftest.py
    makes hashing cheap for every other test)."""
    monkeypatch.setattr(passwords, "PARAMETERS", REAL_PARAMETERS)
