"""Fixtures for the notify tests: one test PKI for the session."""

from __future__ import annotations

import pytest

from tests.notify.servers import Pki, make_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))
