"""Bad input and faults at the receivers: arbitrary bytes, overlong and invalid UTF-8 messages,
stalled connections, floods. Nothing crashes, nothing is dropped silently, memory stays bounded."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import time
from pathlib import Path

from tests.conftest import shared_data
from tests.service.svc import events, running, service_home


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _wait_count(home_root: Path, predicate: object, timeout: float = 15.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)


def test_overlong_and_invalid_utf8_messages_are_kept_flagged(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h", **{"syslog.max_message_bytes": "1024"})
    long_msg = b"<13>Nov 27 10:00:00 host app: " + b"A" * 5000 + b"\n"
    bad_utf8 = b"<13>Nov 27 10:00:00 host app: caf\xe9 \xff\xfe end\n"
    with running(home) as up:
        with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
            s.sendall(long_msg + bad_utf8)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.sendto(b"<13>" + b"U" * 3000, ("127.0.0.1", up.ports["syslog-udp"]))
        _wait_count(
            home.root,
            lambda: (
                len([e for e in events(home) if "mamori" in e and "receiver" in e["mamori"]]) >= 3
            ),
        )
    evs = [e for e in events(home) if e.get("mamori", {}).get("receiver", "").startswith("syslog")]
    assert len(evs) == 3
    tcp_long = next(e for e in evs if "AAAA" in e["event"]["original"])
    assert tcp_long["mamori"]["truncated"]["original_bytes"] == len(long_msg) - 1
    assert len(tcp_long["event"]["original"]) <= 1024
    udp_long = next(e for e in evs if "UUUU" in e["event"]["original"])
    assert udp_long["mamori"]["truncated"]["original_bytes"] == 3004
    bad = next(e for e in evs if "caf" in e["event"]["original"])
    assert "\\xe9" in bad["event"]["original"] and "\\xff\\xfe" in bad["event"]["original"]
    assert bad["mamori"]["syslog"].get("message_invalid_utf8") is True


def test_arbitrary_bytes_never_take_the_service_down(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    rng = random.Random(1234)
    with running(home) as up:
        for _ in range(30):
            blob = rng.randbytes(rng.randint(1, 20000))
            with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
                s.sendall(blob)
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.sendto(blob[:8000], ("127.0.0.1", up.ports["syslog-udp"]))
            # TLS port: garbage instead of a handshake
            with socket.create_connection(("127.0.0.1", up.ports["syslog-tls"])) as s:
                s.sendall(blob[:2000])
                s.settimeout(5)
                with contextlib.suppress(OSError):
                    s.recv(100)
        # still alive and still accepting
        with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
            s.sendall(b"<13>after the garbage\n")
        _wait_count(
            home.root, lambda: any(e.get("message") == "after the garbage" for e in events(home))
        )
        assert up.proc.poll() is None
    assert any(e.get("message") == "after the garbage" for e in events(home))


def test_a_stalled_connection_is_closed_after_the_idle_timeout(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h", **{"syslog.idle_timeout_s": "1"})
    with running(home) as up:
        with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
            s.sendall(b"<13>partial frame without newline")
            s.settimeout(10)
            t0 = time.monotonic()
            assert s.recv(10) == b""  # closed by mamori
            assert time.monotonic() - t0 < 5
        _wait_count(
            home.root,
            lambda: any(e.get("message") == "partial frame without newline" for e in events(home)),
        )
    kept = [e for e in events(home) if e.get("message") == "partial frame without newline"]
    assert len(kept) == 1, "the unterminated frame is kept when the connection closes"


def test_a_flood_is_met_with_back_pressure_and_bounded_memory(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h", **{"ingest.queue_events": "20000"})
    msg = b"<13>Nov 27 10:00:00 host app: " + b"f" * 250 + b"\n"
    with running(home) as up:
        peak = 0
        with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            block = msg * 2000
            t0 = time.monotonic()
            while time.monotonic() - t0 < 8:
                s.sendall(block)
                peak = max(peak, _rss_kb(up.proc.pid))
        assert peak < 500 * 1024, f"peak RSS {peak} kB"
        # UDP flood: whatever cannot be taken is counted, then recorded as ingest.loss
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            for _ in range(50000):
                u.sendto(msg, ("127.0.0.1", up.ports["syslog-udp"]))
        peak = max(peak, _rss_kb(up.proc.pid))
        assert peak < 500 * 1024, f"peak RSS {peak} kB"
    assert os.path.getsize(home.ledger_db) > 0


def test_real_world_server_logs_arrive_one_event_per_line(tmp_path: Path) -> None:
    logs = shared_data("logs")
    files = sorted(p for p in logs.rglob("*.log") if "OpenSSH" in str(p) or "Linux" in str(p))
    if not files:
        import pytest

        pytest.skip(f"no loghub Linux/OpenSSH logs under {logs}")
    lines = []
    for f in files[:2]:
        lines.extend(f.read_bytes().splitlines()[:1000])
    lines = [ln for ln in lines if ln.strip()]
    home = service_home(tmp_path / "h")
    with running(home) as up:
        with socket.create_connection(("127.0.0.1", up.ports["syslog-tcp"])) as s:
            s.sendall(b"".join(b"<38>" + ln + b"\n" for ln in lines))
        _wait_count(
            home.root,
            lambda: (
                len(
                    [e for e in events(home) if e.get("mamori", {}).get("receiver") == "syslog-tcp"]
                )
                >= len(lines)
            ),
            timeout=60,
        )
    got = [e for e in events(home) if e.get("mamori", {}).get("receiver") == "syslog-tcp"]
    assert len(got) == len(lines)
