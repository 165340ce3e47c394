"""Queueing notifications: one stored delivery per route that takes it, each recorded in the
audit outbox (`notify.queued`); the :class:`~mamori.notify.dispatch.Dispatcher` sends them."""

from __future__ import annotations

import secrets
import time
from typing import Any

from mamori import audit
from mamori.home import Home
from mamori.ledger.canonical import canonical
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Transport
from mamori.notify.model import Notification, select_routes
from mamori.notify.settings import NotifyConfig, Route
from mamori.notify.store import Delivery, DeliveryStore, NewDelivery, State


def new_delivery_id() -> str:
    """A delivery's stable id: 128 random bits, hex (unique without coordination)."""
    return secrets.token_hex(16)


def enqueue(
    home: Home,
    notification: Notification,
    *,
    config: NotifyConfig | None = None,
    route: str | None = None,
    now: float | None = None,
) -> list[int]:
    """Queue `notification`: one delivery per route that takes it (:func:`select_routes`), or
    one e-mail to its explicit `to`; with `route`, exactly that route whatever its filters
    (`mamori notify test`). Returns the deliveries' ids; none when no route takes it (then
    `notify.unrouted` is recorded, so the ledger says it went nowhere).

    `config` defaults to the home's; `now` (unix seconds) to the clock.
    """
    cfg = config if config is not None else home.config().notify
    when = time.time() if now is None else now
    try:
        payload = canonical(dict(notification.payload))
    except (TypeError, ValueError, AttributeError) as e:
        raise NotifyError(
            f"the payload of the notification {notification.subject!r} is not JSON: {e}"
        ) from e
    targets: list[tuple[Route | None, Transport]]
    if route is not None:
        r = cfg.route(route)
        if r is None:
            raise NotifyError(
                f"there is no route {route!r}",
                hint="list them with `mamori notify routes`; routes are [[route]] tables in "
                "mamori.toml",
            )
        targets = [(r, r.transport)]
    elif notification.to:
        if cfg.smtp is None:
            raise NotifyError(
                f"cannot e-mail {', '.join(notification.to)}: there is no [smtp] section",
                hint="add [smtp] with host and from to mamori.toml (see docs/notify.md)",
            )
        targets = [(None, Transport.EMAIL)]
    else:
        targets = [(r, r.transport) for r in select_routes(cfg, notification)]
    items = [
        NewDelivery(
            delivery=new_delivery_id(),
            route=r.name if r is not None else None,
            transport=transport,
            recipients=notification.to if r is None else (),
            kind=notification.kind,
            severity=notification.severity,
            rule=notification.rule,
            subject=notification.subject,
            body=notification.body,
            payload=payload,
        )
        for r, transport in targets
    ]
    base = {
        "kind": notification.kind.value,
        "severity": notification.severity.value,
        "rule": notification.rule,
        "subject": notification.subject,
    }
    if not items:
        audit.record(home, "notify.unrouted", outcome="unknown", fields=base)
        return []
    ids = DeliveryStore(home.root).add(items, when)
    for (r, _t), item, delivery_id in zip(targets, items, ids, strict=True):
        fields: dict[str, Any] = {
            **base,
            "id": delivery_id,
            "delivery": item.delivery,
            "route": item.route,
            "transport": item.transport.value,
            "target": r.target() if r is not None else ", ".join(item.recipients),
        }
        audit.record(home, "notify.queued", fields=fields)
    return ids


def list_deliveries(home: Home, state: State | None = None, limit: int = 1000) -> list[Delivery]:
    """The newest deliveries, newest first (in `state`, if given)."""
    return DeliveryStore(home.root).recent(state, limit)
