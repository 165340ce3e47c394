"""Fixtures of the incidents tests: a store in a fresh home, fake alerts, captured e-mail.

The alert store and the notifier are other packages: their adapters (`linkage`, `sending`) are
replaced here, and only here, by fakes that keep what they were given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from mamori import audit
from mamori.home import Home
from mamori.incidents import linkage, sending
from mamori.incidents.errors import NotFound
from mamori.incidents.model import AlertId, AlertRef, IncidentId
from mamori.incidents.store import IncidentStore
from mamori.incidents.tickets import TicketStore

T0 = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)
"""2026-11-27 10:00 JST, a Friday."""

CSIRT_TO = "csirt@agency.example.jp"
CSIRT_CC = "soc-lead@contractor.example.jp"


def minutes(n: float) -> dt.timedelta:
    return dt.timedelta(minutes=n)


def configure_csirt(home: Home, *, to: str = CSIRT_TO, cc: str = CSIRT_CC) -> None:
    """Fill in [csirt] in the home's mamori.toml."""
    text = home.config_path.read_text(encoding="utf-8")
    lines = text.split("\n")
    start = lines.index("[csirt]")
    for i in range(start, len(lines)):
        if lines[i].startswith("to = []"):
            lines[i] = f'to = ["{to}"]' if to else "to = []"
        elif lines[i].startswith("cc = []"):
            lines[i] = f'cc = ["{cc}"]' if cc else "cc = []"
        elif lines[i].startswith("organisation = "):
            lines[i] = 'organisation = "デジタル庁"'
        elif lines[i].startswith("contractor = "):
            lines[i] = 'contractor = "守り株式会社 運用保守チーム"'
        elif lines[i].startswith("contact = "):
            lines[i] = 'contact = "運用窓口 03-0000-0000 soc@contractor.example.jp"'
    home.config_path.write_text("\n".join(lines), encoding="utf-8")


@dataclass
class FakeAlerts:
    """The alert store as the incidents see it."""

    alerts: dict[str, AlertRef] = field(default_factory=dict)
    links: list[tuple[str, str, str]] = field(default_factory=list)
    fail_link: bool = False

    def add(
        self,
        alert_id: str,
        *,
        rule: str = "rule-ssh-brute",
        title: str = "SSH brute force",
        severity: str = "high",
        host: str | None = "web-01",
        user: str | None = "alice",
        events: tuple[int, ...] = (),
        first_seen: dt.datetime | None = None,
    ) -> AlertRef:
        group = tuple(
            (k, v) for k, v in (("host.name", host), ("user.name", user)) if v is not None
        )
        ref = AlertRef(
            id=AlertId(alert_id),
            rule=rule,
            title=title,
            severity=severity,
            summary=f"{title} on {host}",
            events=events,
            group=group,
            first_seen=first_seen or T0 - minutes(5),
            last_seen=T0 - minutes(1),
        )
        self.alerts[alert_id] = ref
        return ref

    def summary(self, home: Home, alert_id: AlertId) -> AlertRef:
        if alert_id not in self.alerts:
            raise NotFound(f"there is no alert {alert_id}")
        return self.alerts[alert_id]

    def link(
        self,
        home: Home,
        alert_id: AlertId,
        incident_id: IncidentId,
        actor: str,
        now: dt.datetime,
        *,
        replacing: IncidentId | None = None,
    ) -> None:
        if self.fail_link:
            from mamori.incidents.errors import IncidentsError

            raise IncidentsError("the alert store is read-only")
        self.links.append((alert_id, incident_id, actor))


@dataclass
class Mail:
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    payload: dict[str, Any]
    kind: str
    severity: str


@pytest.fixture
def alerts(monkeypatch: pytest.MonkeyPatch) -> FakeAlerts:
    fake = FakeAlerts()
    monkeypatch.setattr(linkage, "alert_summary", fake.summary)
    monkeypatch.setattr(linkage, "link", fake.link)
    return fake


@pytest.fixture
def mails(monkeypatch: pytest.MonkeyPatch) -> list[Mail]:
    sent: list[Mail] = []

    def send_mail(
        home: Home,
        to: Any,
        subject: str,
        body: str,
        payload: Any,
        kind: str,
        *,
        cc: Any = (),
        severity: str = "high",
    ) -> None:
        sent.append(Mail(tuple(to), tuple(cc), subject, body, dict(payload), kind, severity))

    monkeypatch.setattr(sending, "send_mail", send_mail)
    return sent


@dataclass
class Notice:
    kind: str
    subject: str
    body: str
    payload: dict[str, Any]
    severity: str
    rule: str | None


@pytest.fixture
def notices(monkeypatch: pytest.MonkeyPatch) -> list[Notice]:
    queued: list[Notice] = []

    def notify(
        home: Home,
        kind: str,
        subject: str,
        body: str,
        payload: Any,
        *,
        severity: str,
        rule: str | None = None,
    ) -> None:
        queued.append(Notice(kind, subject, body, dict(payload), severity, rule))

    monkeypatch.setattr(sending, "notify", notify)
    return queued


@pytest.fixture
def store(
    home: Home, alerts: FakeAlerts, mails: list[Mail], notices: list[Notice]
) -> Iterator[IncidentStore]:
    with IncidentStore.open(home) as s:
        yield s


@pytest.fixture
def csirt_store(
    home: Home, alerts: FakeAlerts, mails: list[Mail], notices: list[Notice]
) -> Iterator[IncidentStore]:
    configure_csirt(home)
    with IncidentStore.open(home) as s:
        yield s


@pytest.fixture
def tickets(home: Home) -> Iterator[TicketStore]:
    with TicketStore.open(home) as s:
        yield s


def audit_events(home: Home, prefix: str = "") -> list[dict[str, Any]]:
    """The audit events in the outbox (action and mamori.audit fields), oldest first."""
    out = []
    for _, raw in audit.pending(home, 0, 10_000):
        doc = orjson.loads(raw)
        action = doc["event"]["action"]
        if action.startswith(prefix):
            out.append({"action": action, "outcome": doc["event"]["outcome"],
                        **doc["mamori"]["audit"]})  # fmt: skip
    return out
