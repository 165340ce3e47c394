"""schemathesis against mamori's OpenAPI schema, on the real `mamori up`: no 5xx, every
response matches the schema, schema-valid requests are accepted (issue 4)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.service.svc import ingest_token, running, service_home

SCHEMATHESIS = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
pytestmark = pytest.mark.skipif(
    not Path(SCHEMATHESIS).exists(),
    reason="schemathesis is not installed (./scripts/test installs it)",
)


def _run(base: str, cafile: Path, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{base}/api/v1/openapi.json",
            "--checks",
            "all",
            "--tls-verify",
            str(cafile),
            "-H",
            f"Authorization: Bearer {token}",
            "--max-examples",
            "30",
            "--request-timeout",
            "30",
            "--seed",
            "20261127",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        cwd=Path(__file__)
        .resolve()
        .parents[2],  # so the hooks module imports as tests.web.st_hooks
    )


@pytest.mark.parametrize("scope", ["read", "ingest", "metrics"])
def test_the_api_conforms_to_its_schema(tmp_path: Path, scope: str) -> None:
    home = service_home(tmp_path / "h")
    token = ingest_token(home, f"st-{scope}", scope=scope)
    with running(home) as up:
        proc = _run(
            f"https://localhost:{up.ports['https']}", home.root / "tls" / "server.crt", token
        )
    out = proc.stdout + proc.stderr
    assert "Server error" not in out and "ST101" not in out, out[-6000:]
    assert proc.returncode == 0, out[-6000:]
