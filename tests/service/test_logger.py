"""util-linux `logger` as a real sender: RFC 5424 and RFC 3164, UDP and TCP, both framings."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.service.svc import events, running, service_home

LOGGER = shutil.which("logger")
pytestmark = pytest.mark.skipif(LOGGER is None, reason="util-linux `logger` is not installed")


def _send(port: int, *args: str, message: str) -> None:
    assert LOGGER is not None
    subprocess.run(
        [LOGGER, "--server", "127.0.0.1", "--port", str(port), *args, message],
        check=True,
        timeout=30,
    )


def _wait_for(
    home_events: Callable[[], list[dict[str, Any]]], needle: str, timeout: float = 10.0
) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if any(needle in str(e.get("message", "")) for e in home_events()):
            return
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("transport", "fmt", "framing"),
    [
        ("--udp", "--rfc5424", None),
        ("--udp", "--rfc3164", None),
        ("--tcp", "--rfc5424", None),
        ("--tcp", "--rfc3164", None),
        ("--tcp", "--rfc5424", "--octet-count"),
        ("--tcp", "--rfc3164", "--octet-count"),
    ],
)
def test_logger_messages_arrive_parsed(
    tmp_path: Path, transport: str, fmt: str, framing: str | None
) -> None:
    home = service_home(tmp_path / "h")
    tag = f"t{abs(hash((transport, fmt, framing))) % 10**8}"
    message = f"Failed password for invalid user admin from 192.0.2.44 port 51234 ssh2 {tag}"
    with running(home) as up:
        port = up.ports["syslog-udp" if transport == "--udp" else "syslog-tcp"]
        extra = [framing] if framing else []
        args = [transport, fmt, *extra, "-t", "sshd", "-p", "auth.warning"]
        if fmt == "--rfc5424":
            args += ["--msgid", "ID47", "--sd-id", "origin@32473", "--sd-param", 'ip="10.0.0.5"']
        _send(port, *args, message=message)
        _wait_for(lambda: events(home), tag)
    got = [e for e in events(home) if tag in str(e.get("message", ""))]
    assert len(got) == 1, got
    ev = got[0]
    assert ev["message"].endswith(message) or ev["message"] == message
    syslog = ev["log"]["syslog"]
    assert syslog["facility"]["name"] == "auth"
    assert syslog["severity"]["name"].lower().startswith("warn")
    assert ev["process"]["name"] == "sshd"
    assert ev["mamori"]["receiver"] == ("syslog-udp" if transport == "--udp" else "syslog-tcp")
    assert ev["log"]["source"]["address"].startswith("127.0.0.1:")
    assert ev["mamori"]["syslog"]["format"] == fmt.lstrip("-")
    if fmt == "--rfc5424":
        assert syslog["msgid"] == "ID47"
        assert syslog["structured_data"]["origin@32473"]["ip"] == "10.0.0.5"
    assert ev["event"]["original"]
    # ECS from the sshd message itself
    assert ev["user"]["name"] == "admin"
    assert ev["source"]["ip"] == "192.0.2.44"
    assert ev["event"]["outcome"] == "failure"


def test_many_lines_over_one_tcp_connection_all_arrive_in_order(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    lines = "\n".join(f"line {i:05d} of the batch" for i in range(3000)) + "\n"
    src = tmp_path / "lines.txt"
    src.write_text(lines)
    with running(home) as up:
        assert LOGGER is not None
        subprocess.run(
            [
                LOGGER,
                "--server",
                "127.0.0.1",
                "--port",
                str(up.ports["syslog-tcp"]),
                "--tcp",
                "--octet-count",
                "-t",
                "batch",
                "-f",
                str(src),
            ],
            check=True,
            timeout=60,
        )
        _wait_for(lambda: events(home), "line 02999")
    got = [e["message"] for e in events(home) if "of the batch" in str(e.get("message", ""))]
    assert got == [f"line {i:05d} of the batch" for i in range(3000)]
