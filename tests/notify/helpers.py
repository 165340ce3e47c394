"""Small helpers shared by the notify tests."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from mamori import audit
from mamori.home import Home
from mamori.notify.dispatch import DeliveryResult, Dispatcher
from mamori.notify.kinds import Kind, Severity
from mamori.notify.model import Notification

SUBJECT = "【重大】不正ログインを検知しました: 管理者アカウント"
BODY = (
    "管理者アカウント admin へのログイン失敗が 5 分間に 120 回ありました。\n送信元: 203.0.113.7\n"
)


def alert(
    *,
    subject: str = SUBJECT,
    body: str = BODY,
    severity: Severity = Severity.CRITICAL,
    rule: str | None = "mamori.auth.bruteforce",
    kind: Kind = Kind.ALERT,
    to: tuple[str, ...] = (),
) -> Notification:
    return Notification(
        kind=kind,
        subject=subject,
        body=body,
        payload={"alert": {"id": "a-1", "rule": rule, "count": 120}},
        severity=severity,
        rule=rule,
        to=to,
    )


def deliver(home: Home, now: float | None = None, **kw: Any) -> list[DeliveryResult]:
    """One pass of a new Dispatcher (as after a restart)."""
    return asyncio.run(Dispatcher(home, **kw).deliver_due(now))


def audit_events(home: Home, prefix: str = "notify.") -> list[dict[str, Any]]:
    """The audit events in the outbox whose action starts with `prefix`."""
    out = []
    for _id, raw in audit.pending(home, 0, 100_000):
        doc = orjson.loads(raw)
        if str(doc["event"]["action"]).startswith(prefix):
            out.append(doc)
    return out


def actions(home: Home) -> list[str]:
    return [str(e["event"]["action"]) for e in audit_events(home)]


def outbox_bytes(home: Home) -> bytes:
    return b"\n".join(raw for _id, raw in audit.pending(home, 0, 100_000))
