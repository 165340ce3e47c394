"""Notifications: e-mail over SMTP and HMAC-signed webhooks, routed by severity and rule.

The parts (docs/notify.md):

- :mod:`mamori.notify.settings`: `[smtp]` and `[[route]]` in mamori.toml;
- :mod:`mamori.notify.model`: :class:`Notification` and :func:`select_routes` (pure);
- :mod:`mamori.notify.queue`: :func:`enqueue` into HOME/notify.db, `notify.queued` recorded;
- :mod:`mamori.notify.dispatch`: the :class:`Dispatcher` that sends, retries and records;
- :mod:`mamori.notify.transports`: SMTP and webhooks behind one interface;
- :mod:`mamori.notify.signature`: the webhook signature and :func:`verify_signature`.

`Notification`, `enqueue` and the rest are importable from here too. The modules that touch
the home (queue, dispatch) are loaded on first use: mamori.config imports this package's
settings while mamori.home is still being imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Severity, Transport
from mamori.notify.model import Notification, select_routes
from mamori.notify.signature import verify_signature

if TYPE_CHECKING:
    from mamori.notify.dispatch import DeliveryResult, Dispatcher, Outcome
    from mamori.notify.queue import enqueue, list_deliveries

__all__ = [
    "DeliveryResult",
    "Dispatcher",
    "Kind",
    "Notification",
    "NotifyError",
    "Outcome",
    "Severity",
    "Transport",
    "enqueue",
    "list_deliveries",
    "select_routes",
    "verify_signature",
]

_LAZY = {
    "DeliveryResult": "mamori.notify.dispatch",
    "Dispatcher": "mamori.notify.dispatch",
    "Outcome": "mamori.notify.dispatch",
    "enqueue": "mamori.notify.queue",
    "list_deliveries": "mamori.notify.queue",
}


def __getattr__(name: str) -> Any:
    # PEP 562: the home-touching names, imported when first asked for.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
