"""UDP losses are recorded, including datagrams the kernel dropped before mamori read them."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from mamori.service.udpdrops import drops_for_inode
from tests.service.svc import events, running, service_home

PROC_SAMPLE = """   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  426: 0100007F:E5C1 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 41996 2 000000001d25b853 0
 1823: 0100007F:AB36 00000000:0000 07 00000000:0003A980 00:00000000 00000000     0        0 66850 2 0000000043f7037a 1234
"""


def test_drops_are_read_from_the_sockets_line() -> None:
    assert drops_for_inode(PROC_SAMPLE, 66850) == 1234
    assert drops_for_inode(PROC_SAMPLE, 41996) == 0
    assert drops_for_inode(PROC_SAMPLE, 1) is None


@given(st.text())
def test_any_listing_never_raises(text: str) -> None:
    result = drops_for_inode(text, 66850)
    assert result is None or isinstance(result, int)


def test_datagrams_the_kernel_dropped_become_an_ingest_loss_event(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    msg = b"<13>Nov 27 10:00:00 host app: " + b"k" * 900
    with running(home) as up:
        os.kill(up.proc.pid, signal.SIGSTOP)  # mamori reads nothing: the kernel buffer fills
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                for _ in range(20_000):
                    u.sendto(msg, ("127.0.0.1", up.ports["syslog-udp"]))
        finally:
            os.kill(up.proc.pid, signal.SIGCONT)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 15:
            if any(e.get("event", {}).get("action") == "ingest.loss" for e in events(home)):
                break
            time.sleep(0.2)
    losses = [e for e in events(home) if e.get("event", {}).get("action") == "ingest.loss"]
    assert losses, "no ingest.loss event"
    sources = [s for e in losses for s in e["mamori"]["audit"]["sources"]]
    assert sum(s["dropped"] for s in sources if s["address"] == "kernel") > 0
    stored = sum(1 for e in events(home) if e.get("mamori", {}).get("receiver") == "syslog-udp")
    assert stored > 0
    assert stored + sum(s["dropped"] for s in sources) <= 20_000
