"""Alerts: detections deduplicated, suppressed against floods, acknowledged and escalated.

- :mod:`mamori.alerts.model`: the values (:class:`Alert`, :class:`AlertState`, :class:`Change`);
- :mod:`mamori.alerts.policy`: the decisions, pure (raise, absorb, suppress, escalate);
- :mod:`mamori.alerts.store`: :class:`AlertStore`, HOME/alerts.db, every change audited;
  its parts :mod:`~mamori.alerts.intake`, :mod:`~mamori.alerts.changes` and
  :mod:`~mamori.alerts.queries` over :mod:`~mamori.alerts.core` and :mod:`~mamori.alerts.db`;
- :mod:`mamori.alerts.notifying`: the one place that calls :mod:`mamori.notify`;
- :mod:`mamori.alerts.settings`: ``[alerts]`` in mamori.toml.

``from mamori.alerts import AlertStore`` works; the store is imported on first use, because
:mod:`mamori.config` imports this package's settings while it is itself being imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mamori.alerts.errors import AlertNotFound, AlertsError, TransitionRefused
    from mamori.alerts.model import Alert, AlertDetail, AlertState, Change, ChangeKind
    from mamori.alerts.store import AlertStore

__all__ = [
    "Alert",
    "AlertDetail",
    "AlertNotFound",
    "AlertState",
    "AlertStore",
    "AlertsError",
    "Change",
    "ChangeKind",
    "TransitionRefused",
]

_WHERE = {
    "AlertStore": "mamori.alerts.store",
    "Alert": "mamori.alerts.model",
    "AlertDetail": "mamori.alerts.model",
    "AlertState": "mamori.alerts.model",
    "Change": "mamori.alerts.model",
    "ChangeKind": "mamori.alerts.model",
    "AlertsError": "mamori.alerts.errors",
    "AlertNotFound": "mamori.alerts.errors",
    "TransitionRefused": "mamori.alerts.errors",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'mamori.alerts' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
