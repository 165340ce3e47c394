"""Fixtures of the alerts tests: the notifications captured, the store of a fresh home."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from mamori.alerts import notifying
from mamori.alerts.errors import AlertsError
from mamori.alerts.model import Alert
from mamori.alerts.store import AlertStore
from mamori.home import Home


@dataclass
class Notified:
    """The calls of notify_alert: (alert, kind)."""

    calls: list[tuple[Alert, str]] = field(default_factory=list)
    fail: bool = False

    def kinds(self) -> list[tuple[int, str]]:
        return [(int(a.id), k) for a, k in self.calls]


@pytest.fixture
def notified(monkeypatch: pytest.MonkeyPatch) -> Notified:
    """notify_alert replaced: calls captured; with `fail`, it refuses like a broken queue."""
    got = Notified()

    def fake(home: Home, alert: Alert, kind: str) -> None:
        if got.fail:
            raise AlertsError("the notification queue is broken")
        got.calls.append((alert, kind))

    monkeypatch.setattr(notifying, "notify_alert", fake)
    return got


@pytest.fixture
def store(home: Home, notified: Notified) -> Iterator[AlertStore]:
    """The alert store of a fresh home, with the default `[alerts]`."""
    with AlertStore.open(home) as s:
        yield s
