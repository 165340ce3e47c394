"""Debian's rsyslogd, started by a test with a config of its own (no system sockets)."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

RSYSLOGD = shutil.which("rsyslogd") or (
    "/usr/sbin/rsyslogd" if Path("/usr/sbin/rsyslogd").exists() else None
)


def require_rsyslogd(*, tls: bool = False) -> str:
    if RSYSLOGD is None:
        pytest.skip("rsyslogd is not installed (./scripts/test installs Debian's rsyslog)")
    if (
        tls
        and not Path("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so").exists()
        and not list(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so"))
    ):
        pytest.skip("rsyslog-gnutls is not installed (./scripts/test installs it)")
    return RSYSLOGD


class Rsyslogd:
    def __init__(self, workdir: Path, config: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "work").mkdir(exist_ok=True)
        self.conf = workdir / "rsyslog.conf"
        self.conf.write_text(config)
        self.log = workdir / "rsyslogd.log"
        binary = require_rsyslogd()
        check = subprocess.run(
            [binary, "-N1", "-f", str(self.conf)], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stdout + check.stderr
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [binary, "-n", "-f", str(self.conf), "-i", str(workdir / "rsyslogd.pid")],
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def wait_port(self, port: int, timeout: float = 15.0) -> None:
        import socket

        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"rsyslogd exited: {self.log.read_text(errors='replace')}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError(
            f"rsyslogd did not listen on {port}: {self.log.read_text(errors='replace')}"
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace")
