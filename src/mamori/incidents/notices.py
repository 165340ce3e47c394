"""Notices of incidents (FLT-1 "report promptly") and of breached timers, along the routes.

:func:`announce` tells the `[[route]]`s that take incidents (or breaches) that one was opened;
:func:`note_breaches`, called every minute by the running service, notes each newly breached
timer once, sends an escalation notice and records `incident.timer_breached`. Notices go out
through :mod:`mamori.incidents.sending` only.
"""

from __future__ import annotations

import datetime as dt

from mamori.errors import MamoriError
from mamori.incidents import sending, trail
from mamori.incidents.model import PRIORITY_SEVERITY, Incident, IncidentId, iso, jp_time
from mamori.incidents.store import IncidentStore
from mamori.incidents.workflow import Timer, TimerState, timers


def announce(store: IncidentStore, inc: Incident) -> tuple[str, ...]:
    """FLT-1 "report promptly": a notice along the routes that take incidents (or breaches)."""
    breach = inc.breach is not None
    label = "個人情報の漏えい等" if breach else "インシデント起票"
    lines = [
        f"{inc.id} [{inc.priority.value}] {inc.title}",
        f"分類: {inc.category.ja}  緊急度: {inc.urgency.ja}  影響度: {inc.impact.ja}",
        f"検知日時: {jp_time(inc.detected_at, store.zone)}",
    ]
    if inc.hosts:
        lines.append(f"対象ホスト: {'、'.join(inc.hosts)}")
    if inc.users:
        lines.append(f"対象アカウント: {'、'.join(inc.users)}")
    lines += [f"アラート: {a.title}（{a.severity}）" for a in inc.alerts]
    lines.append(f"/incidents/{inc.id}")
    try:
        sending.notify(
            store.home,
            "breach" if breach else "incident",
            f"[{inc.priority.value}] {inc.id} {label}: {inc.title}",
            "\n".join(lines) + "\n",
            {"incident": inc.id, "priority": inc.priority.value, "category": inc.category.value},
            severity=PRIORITY_SEVERITY[inc.priority],
            rule=inc.rules[0] if inc.rules else None,
        )
    except MamoriError as e:
        return (f"{inc.id} was created, but its notice could not be queued: {e.message}",)
    return ()


def _notify_breach(store: IncidentStore, inc: Incident, t: Timer) -> str | None:
    """An `escalation` notice (a `breach` one for the LAW-4 report timer); the error, if any."""
    try:
        sending.notify(
            store.home,
            "breach" if t.name == "csirt_first_report" else "escalation",
            f"[{inc.priority.value}] {inc.id} 期限超過: {t.label_ja} ({t.name})",
            f"{inc.id} [{inc.priority.value}] {inc.title}\n"
            f"{t.label_ja} の期限 {jp_time(t.due, store.zone)} を過ぎました。\n"
            f"現在の段階: {inc.stage.ja}\n/incidents/{inc.id}\n",
            {"incident": inc.id, "timer": t.name, "due": iso(t.due)},
            severity=PRIORITY_SEVERITY[inc.priority],
        )
    except MamoriError as e:
        return e.message
    return None


def note_breaches(store: IncidentStore, now: dt.datetime) -> list[tuple[IncidentId, Timer]]:
    """Find timers of open incidents that are breached and were not yet noted; note each,
    send an escalation notice along the routes and record `incident.timer_breached` (for the
    running service to call periodically; wake the notifier when the list is not empty)."""
    found: list[tuple[IncidentId, Timer]] = []
    for inc in store.incidents():
        for t in timers(inc, now):
            if t.state is not TimerState.BREACHED:
                continue
            with store.transaction() as conn:
                new = store.note_breach(conn, inc.id, t.name, t.due, now)
            if new:
                found.append((inc.id, t))
                problem = _notify_breach(store, inc, t)
                trail.record(
                    store.home,
                    "incident.timer_breached",
                    {
                        "incident": inc.id,
                        "timer": t.name,
                        "due": iso(t.due),
                        "met_at": iso(t.met_at),
                        "priority": inc.priority.value,
                        "notified": problem is None,
                        "error": problem,
                    },
                    actor="mamori",
                    at=now,
                    done=f"{inc.id}: the breach of {t.name} was noted",
                )
    return found
