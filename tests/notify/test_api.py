"""The package's entry points, called the way alerting and incidents call them (by name, with
strings for kind and severity)."""

from __future__ import annotations

import importlib
import subprocess
import sys

from mamori.home import Home
from mamori.notify import queue
from mamori.notify.kinds import Kind, Severity
from mamori.notify.store import State
from tests.notify.helpers import actions
from tests.notify.servers import configure


def test_the_package_exports_the_api() -> None:
    module = importlib.import_module("mamori.notify")
    assert module.enqueue is queue.enqueue
    assert module.Notification.__name__ == "Notification"
    assert callable(module.Dispatcher) and callable(module.verify_signature)


def test_importing_the_package_first_does_not_cycle() -> None:
    # mamori.config imports mamori.notify.settings while mamori.home is half imported.
    for first in ("mamori.notify", "mamori.notify.queue", "mamori.notify.dispatch", "mamori.home"):
        code = f"import {first}; import mamori.notify as n; n.enqueue; n.Dispatcher"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, check=False)
        assert proc.returncode == 0, proc.stderr.decode()


def test_an_alert_as_alerting_sends_it(home: Home) -> None:
    configure(
        home,
        '[[route]]\nname = "hook"\nkind = "webhook"\nurl = "https://h.example/x"\n'
        'secret_file = "k"\nrules = ["mamori.auth.*"]\n',
    )
    notify = importlib.import_module("mamori.notify")
    n = notify.Notification(
        kind="escalation",
        subject="[mamori] エスカレーション #1 【緊急】 brute force",
        body="アラートが確認されていません",
        payload={"kind": "escalation", "alert": {"id": 1}},
        severity="critical",
        rule="mamori.auth.bruteforce",
        to=(),
    )
    assert n.kind is Kind.ESCALATION and n.severity is Severity.CRITICAL
    (delivery_id,) = notify.enqueue(home, n)
    (d,) = queue.list_deliveries(home)
    assert (d.id, d.route, d.state, d.rule) == (
        delivery_id,
        "hook",
        State.PENDING,
        "mamori.auth.bruteforce",
    )


def test_a_csirt_report_as_incidents_sends_it(home: Home) -> None:
    configure(home, '[smtp]\nhost = "smtp.example.jp"\nfrom = "mamori@example.jp"\n')
    notify = importlib.import_module("mamori.notify")
    n = notify.Notification(
        kind="csirt",
        subject="【第1報】インシデント報告",
        body="本文",
        payload={"incident": "INC-1", "to": ["csirt@example.jp"], "cc": ["ciso@example.jp"]},
        severity="high",
        to=("csirt@example.jp", "ciso@example.jp"),
    )
    notify.enqueue(home, n)
    (d,) = queue.list_deliveries(home)
    assert d.route is None and d.recipients == ("csirt@example.jp", "ciso@example.jp")
    assert actions(home) == ["notify.queued"]
