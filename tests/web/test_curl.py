"""The application as a user reaches it: the real curl binary, verifying the certificate."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.boundary_samples import EVE_ALERT, EVE_FLOW, ZEEK_TSV
from tests.web.conftest import INGEST, MAX_BODY, Live

CURL = shutil.which("curl")
pytestmark = pytest.mark.skipif(CURL is None, reason="the curl binary is not installed")


def curl(live: Live, path: str, *args: str) -> tuple[int, dict[str, str], str]:
    """Run curl against the live server; the status, the headers (lower case) and the body."""
    assert CURL is not None
    proc = subprocess.run(
        [
            CURL,
            "--silent",
            "--show-error",
            "--include",
            "--cacert",
            str(live.cafile),
            *args,
            live.url + path,
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    head, _, body = proc.stdout.decode().replace("\r\n", "\n").rpartition("\n\n")
    lines = [line for line in head.split("\n") if line]
    # With "Expect: 100-continue" curl prints the interim answer first: keep the last one.
    last = max(i for i, line in enumerate(lines) if line.startswith("HTTP/"))
    status = int(lines[last].split()[1])
    headers = dict(line.lower().split(": ", 1) for line in lines[last + 1 :])
    return status, headers, body


def post(live: Live, file: Path, *headers: str, query: str = "") -> tuple[int, dict[str, str], Any]:
    args = ["-H", f"Authorization: Bearer {INGEST}", "--data-binary", f"@{file}"]
    for header in headers:
        args += ["-H", header]
    status, head, body = curl(live, "/api/v1/events" + query, *args)
    return status, head, json.loads(body)


def test_json_lines_file(live: Live, tmp_path: Path) -> None:
    file = tmp_path / "events.ndjson"
    file.write_text('{"message": "one"}\n{"message": "two"}\n', encoding="utf-8")
    status, _, body = post(live, file, "Content-Type: application/x-ndjson")
    assert (status, body) == (200, {"accepted": 2, "first": 0, "last": 1})
    assert [d["message"] for d in live.sink.docs()] == ["one", "two"]


def test_json_array_file_gzipped(live: Live, tmp_path: Path) -> None:
    file = tmp_path / "events.json.gz"
    file.write_bytes(gzip.compress(json.dumps([{"n": i} for i in range(500)]).encode()))
    status, _, body = post(live, file, "Content-Type: application/json", "Content-Encoding: gzip")
    assert (status, body) == (200, {"accepted": 500, "first": 0, "last": 499})


@pytest.mark.parametrize(
    ("fmt", "text", "count"),
    [("zeek", ZEEK_TSV, 2), ("suricata", f"{EVE_ALERT}\n{EVE_FLOW}\n", 2)],
)
def test_log_files(live: Live, tmp_path: Path, fmt: str, text: str, count: int) -> None:
    file = tmp_path / "log"
    file.write_text(text, encoding="utf-8")
    status, _, body = post(live, file, "Content-Type: text/plain", query=f"?format={fmt}")
    assert status == 200, body
    assert body["accepted"] == count


def test_curl_default_content_type_is_415(live: Live, tmp_path: Path) -> None:
    # --data-binary alone sends application/x-www-form-urlencoded: the answer names the fix.
    file = tmp_path / "events.ndjson"
    file.write_text('{"a": 1}\n', encoding="utf-8")
    status, _, body = post(live, file)
    assert status == 415
    assert "application/x-ndjson" in body["hint"]


def test_bad_line_is_400_with_position(live: Live, tmp_path: Path) -> None:
    file = tmp_path / "events.ndjson"
    file.write_text('{"a": 1}\n{"a": \n', encoding="utf-8")
    status, _, body = post(live, file, "Content-Type: application/x-ndjson")
    assert status == 400
    assert body["items"][0]["position"] == 1 and body["items"][0]["line"] == 2
    assert live.sink.events == []


def test_no_token_is_401_with_challenge(live: Live, tmp_path: Path) -> None:
    status, headers, body = curl(
        live, "/api/v1/events", "--data-binary", "{}", "-H", "Content-Type: application/json"
    )
    assert status == 401
    assert headers["www-authenticate"] == 'bearer realm="mamori"'
    assert json.loads(body)["hint"]


def test_file_over_the_limit_is_413(live: Live, tmp_path: Path) -> None:
    file = tmp_path / "big.ndjson"
    line = b'{"message": "' + b"x" * 1000 + b'"}\n'
    file.write_bytes(line * (2 * MAX_BODY // len(line)))
    status, _, body = post(live, file, "Content-Type: application/x-ndjson")
    assert status == 413
    assert "limit" in body["error"]
    assert live.sink.calls == 0


def test_gzip_bomb_is_413(live: Live, tmp_path: Path) -> None:
    file = tmp_path / "bomb.gz"
    file.write_bytes(gzip.compress(b" " * (40 * MAX_BODY), 9))
    status, _, body = post(
        live, file, "Content-Type: application/x-ndjson", "Content-Encoding: gzip"
    )
    assert status == 413
    assert "decompressed" in body["error"]


def test_health_and_404(live: Live) -> None:
    status, _, body = curl(live, "/api/v1/health")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, headers, body = curl(live, "/api/v1/nothing-here")
    assert status == 404
    assert headers["content-type"] == "application/json"
    assert json.loads(body)["error"] == "there is no endpoint GET /api/v1/nothing-here"


def test_tls_1_2_is_served(live: Live) -> None:
    status, _, _ = curl(live, "/api/v1/health", "--tlsv1.2", "--tls-max", "1.2")
    assert status == 200
