"""The one place that talks to the alert store (:mod:`mamori.alerts`).

Incidents read an alert's summary when they are created from it, and tell the alert store which
incident an alert belongs to. Everything else in this package sees only :class:`AlertRef`. The
alert store is imported when first used (mamori.config imports this package's settings while
mamori.home is being imported); tests replace :func:`alert_summary` and :func:`link`.
"""

from __future__ import annotations

import datetime as dt

from mamori.errors import MamoriError
from mamori.home import Home
from mamori.incidents.errors import IncidentsError, NotFound, StoreUnavailable
from mamori.incidents.model import AlertId, AlertRef, IncidentId


def _time(value: float | dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(float(value), dt.UTC)


def _not_found(alert_id: AlertId, why: str) -> NotFound:
    return NotFound(
        f"there is no alert {alert_id}{why}", hint="list the alerts with `mamori alerts list`"
    )


def _number(alert_id: AlertId) -> int:
    if not alert_id.isdigit():
        raise _not_found(alert_id, ": alert ids are numbers")
    return int(alert_id)


def alert_summary(home: Home, alert_id: AlertId) -> AlertRef:
    """What the incident needs of one alert: NotFound when there is no such alert,
    StoreUnavailable when the alert store cannot be read."""
    from mamori.alerts.errors import AlertNotFound
    from mamori.alerts.store import AlertStore

    number = _number(alert_id)
    try:
        with AlertStore.open(home) as store:
            a = store.get(number)
    except AlertNotFound as e:
        raise _not_found(alert_id, "") from e
    except MamoriError as e:
        raise _failed(e, f"cannot read alert {alert_id}") from e
    return AlertRef(
        id=AlertId(str(a.id)),
        rule=str(a.rule),
        title=str(a.title),
        severity=str(a.severity),
        summary=str(a.summary or ""),
        clauses=tuple(str(c) for c in a.clauses),
        events=tuple(int(i) for i in a.events),
        group=tuple((str(k), str(v)) for k, v in a.group),
        first_seen=_time(a.first_seen),
        last_seen=_time(a.last_seen),
        state=a.state.value,
    )


def link(
    home: Home,
    alert_id: AlertId,
    incident_id: IncidentId,
    actor: str,
    now: dt.datetime,
    *,
    replacing: IncidentId | None = None,
) -> None:
    """Tell the alert store that `alert_id` belongs to `incident_id`.

    `replacing`: the incident the alert leaves (a merge). The alert store links an alert once;
    when it still names `replacing`, that incident's `merged_into` leads on, and nothing fails.
    """
    from mamori.alerts.errors import TransitionRefused
    from mamori.alerts.store import AlertStore

    number = _number(alert_id)
    try:
        with AlertStore.open(home) as store:
            store.link_incident(number, incident_id, actor, now)
    except MamoriError as e:
        if isinstance(e, TransitionRefused) and replacing is not None and replacing in e.message:
            return
        raise _failed(e, f"cannot link alert {alert_id} to {incident_id}") from e


def _failed(e: MamoriError, doing: str) -> IncidentsError:
    """The alert store's error `e`, met while `doing`: StoreUnavailable when the store cannot
    be used, else a refusal."""
    from mamori.alerts.errors import AlertsUnavailable

    kind = StoreUnavailable if isinstance(e, AlertsUnavailable) else IncidentsError
    return kind(f"{doing}: {e.message}", hint=e.hint)
