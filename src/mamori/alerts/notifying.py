"""The one place alerting talks to :mod:`mamori.notify`: :func:`notify_alert`.

:func:`compose` writes the message (Japanese first, then English) and its JSON payload, pure;
:func:`notify_alert` hands them to ``mamori.notify.enqueue`` as a ``Notification``, which routes
them by kind, severity and rule and queues the delivery. The notify package is imported when
first needed, so alerting works (and says clearly why nothing is sent) in an installation
where it is missing. Tests replace :func:`notify_alert` to see the calls.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Final, Literal

from mamori.alerts.errors import AlertsError
from mamori.alerts.model import Alert, iso
from mamori.errors import MamoriError
from mamori.home import Home

Kind = Literal["alert", "escalation"]
"""A new alert, or an open alert that nobody acknowledged in time."""

SEVERITY_JA: Final = {
    "critical": "緊急",
    "high": "高",
    "medium": "中",
    "low": "低",
    "informational": "情報",
}


@dataclass(frozen=True, slots=True)
class Message:
    """What a notification of an alert says, and its machine-readable form."""

    subject: str
    body: str
    payload: dict[str, Any]


def compose(alert: Alert, kind: Kind) -> Message:
    """The subject, body and payload of `kind` for `alert`."""
    sev_ja = SEVERITY_JA.get(alert.severity, alert.severity)
    clauses = ", ".join(alert.clauses) or "-"
    if kind == "alert":
        subject = (
            f"[mamori] アラート #{alert.id} 【{sev_ja}】 {alert.title}"
            f" / Alert #{alert.id} [{alert.severity}] {alert.title}"
        )
        lead_ja = "検知ルールがアラートを上げました。"
        lead_en = "A detection rule raised an alert."
    else:
        subject = (
            f"[mamori] エスカレーション #{alert.id} 【{sev_ja}】 {alert.title}"
            f" / Escalation #{alert.id} [{alert.severity}] {alert.title}"
        )
        lead_ja = f"アラートが確認されていません (エスカレーション {alert.level} 回目)。"
        lead_en = f"The alert has not been acknowledged (escalation {alert.level})."
    body = "\n".join(
        [
            lead_ja,
            f"アラート: #{alert.id} ({alert.path})",
            f"ルール: {alert.title} ({alert.rule})",
            f"重要度: {sev_ja} ({alert.severity})",
            f"契約条項: {clauses}",
            f"概要: {alert.summary}",
            f"検知回数: {alert.count}  抑制: {alert.suppressed}  イベント数: {alert.event_count}",
            f"最初の事象: {iso(alert.first_seen)}  最後の事象: {iso(alert.last_seen)}",
            f"状態: {alert.state.value}",
            "",
            lead_en,
            f"Alert: #{alert.id} ({alert.path})",
            f"Rule: {alert.title} ({alert.rule})",
            f"Severity: {alert.severity}",
            f"Clauses: {clauses}",
            f"Summary: {alert.summary}",
            f"Detections: {alert.count}  suppressed: {alert.suppressed}  events: {alert.event_count}",
            f"First seen: {iso(alert.first_seen)}  last seen: {iso(alert.last_seen)}",
            f"State: {alert.state.value}",
            "",
        ]
    )
    return Message(
        _one_line(subject), body.replace("\0", ""), {"kind": kind, "alert": alert.to_json()}
    )


def _one_line(text: str) -> str:
    """`text` without control characters (a subject is one header line), shortened."""
    line = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in text)
    return line if len(line) <= SUBJECT_MAX else line[: SUBJECT_MAX - 1] + "…"


NOTIFY_MODULES: Final = ("mamori.notify", "mamori.notify.model", "mamori.notify.queue")
"""Where ``Notification`` and ``enqueue`` are looked up, in order."""
SUBJECT_MAX: Final = 300


def _lookup(name: str) -> Any:
    for module_name in NOTIFY_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        found = getattr(module, name, None)
        if callable(found):
            return found
    raise _unavailable(f"mamori.notify has no {name}")


def notify_alert(home: Home, alert: Alert, kind: Kind) -> None:
    """Queue the notification of `kind` for `alert`; raises AlertsError when it cannot be."""
    message = compose(alert, kind)
    # Looked up by name: the notify package is built beside this one, and this is the only
    # place that depends on its names.
    notification_type = _lookup("Notification")
    enqueue = _lookup("enqueue")
    try:
        notification = notification_type(
            kind=kind,
            subject=message.subject,
            body=message.body,
            payload=message.payload,
            severity=alert.severity,
            rule=alert.rule,
            to=(),
        )
        enqueue(home, notification)
    except MamoriError as e:
        raise AlertsError(
            f"the {kind} notification of alert {alert.id} could not be queued: {e.message}",
            hint=e.hint or "check the [smtp] and [[route]] settings and the home's free space",
        ) from e


def _unavailable(why: str) -> AlertsError:
    return AlertsError(
        f"notifications are not available: {why}",
        hint="alerts are still stored and shown in the console; install a mamori with the "
        "notify package to send them",
    )
