"""The whole chain in the real `mamori up`: sshd lines sent with util-linux `logger` → ledger →
live detection (the built-in brute-force correlation, SEC-5/APP-7) → an alert → an e-mail at a
real SMTP server (aiosmtpd). Then a restart: the alert is not raised twice."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path

import pytest

from mamori.alerts.model import Alert
from mamori.alerts.store import AlertStore
from mamori.home import Home
from tests.notify.servers import smtp_server
from tests.service.svc import actions, running, service_home

LOGGER = shutil.which("logger")
pytestmark = pytest.mark.skipif(LOGGER is None, reason="util-linux `logger` is not installed")

BRUTE_FORCE = "07443f88-3337-48ac-83ab-4e7b4f75b68f"
"""Built-in: repeated authentication failures from one address (≥5 in 5m)."""


def _fail(port: int, n: int) -> None:
    assert LOGGER is not None
    for i in range(n):
        subprocess.run(
            [
                LOGGER,
                "--server",
                "127.0.0.1",
                "--port",
                str(port),
                "--udp",
                "--rfc5424",
                "--tag",
                "sshd",
                "--id=4242",
                f"Failed password for invalid user admin{i} from 203.0.113.77 port {40000 + i} ssh2",
            ],
            check=True,
            timeout=30,
        )


def _wait(cond: Callable[[], bool], timeout: float = 20.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s")


def _alerts(home: Home) -> list[Alert]:
    with AlertStore.open(home) as store:
        return list(store.list())


def test_brute_force_raises_one_alert_and_mails_it(tmp_path: Path) -> None:
    with smtp_server() as (inbox, smtp_port):
        home = service_home(
            tmp_path / "home",
            extra=(
                "\n[smtp]\n"
                'host = "127.0.0.1"\n'
                f"port = {smtp_port}\n"
                'security = "none"\n'
                'from = "mamori@example.jp"\n'
                "\n[[route]]\n"
                'name = "soc"\n'
                'kind = "email"\n'
                'to = ["soc@example.jp"]\n'
                'min_severity = "medium"\n'
            ),
        )
        with running(home) as up:
            _fail(up.ports["syslog-udp"], 6)
            _wait(lambda: any(a.rule == BRUTE_FORCE for a in _alerts(home)))
            _wait(lambda: len(inbox.messages()) >= 1)
        alerts = [a for a in _alerts(home) if a.rule == BRUTE_FORCE]
        assert len(alerts) == 1
        alert = alerts[0]
        assert alert.severity == "medium"
        assert "SEC-5" in alert.clauses
        msg: EmailMessage = inbox.messages()[0]
        assert msg["To"] == "soc@example.jp"
        subject = str(msg["Subject"])
        assert "203.0.113.77" in subject or "203.0.113.77" in msg.get_content()
        # Everything happened on the ledger: the alert and the mail are events.
        done = actions(home)
        assert "alert.raised" in done
        assert "notify.sent" in done

        # A restart replays nothing: the same failures do not raise a second alert.
        with running(home):
            time.sleep(2.0)
        again = [a for a in _alerts(home) if a.rule == BRUTE_FORCE]
        assert len(again) == 1
        assert len(inbox.messages()) == 1
