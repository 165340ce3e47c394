"""The alert store, HOME/alerts.db: detections in, alerts out, each change an audit event.

:meth:`AlertStore.ingest` takes the detections of a batch and raises, absorbs or suppresses
each (:mod:`mamori.alerts.policy` decides); :meth:`~AlertStore.acknowledge`,
:meth:`~AlertStore.close` and :meth:`~AlertStore.link_incident` are what people (and the
incidents package) do; :meth:`~AlertStore.escalate_due` is what `mamori up` runs periodically.

Every change is committed first and then recorded with :func:`mamori.audit.record`, as
:mod:`mamori.access.trail` does: when the record fails, the change stands and the AlertsError
raised says so. Notifications go through :func:`mamori.alerts.notifying.notify_alert` after
the records; one that cannot be queued is itself recorded (``alert.notification_failed``).

A store holds one SQLite connection: open one per thread (the console opens one per request).

The store is made of parts, each a module: :mod:`mamori.alerts.intake` (detections in, the
periodic work), :mod:`mamori.alerts.changes` (people's changes), :mod:`mamori.alerts.queries`
(reading), over :mod:`mamori.alerts.core` (the connection, audit records, notifications).
"""

from __future__ import annotations

from types import TracebackType

from mamori.alerts.changes import Changes
from mamori.alerts.core import Now
from mamori.alerts.db import connect
from mamori.alerts.errors import AlertsUnavailable
from mamori.alerts.intake import SEEN_DAYS, SYSTEM_ACTOR, Intake
from mamori.alerts.queries import LIST_MAX, Queries
from mamori.alerts.settings import AlertsConfig
from mamori.errors import MamoriError
from mamori.home import Home

__all__ = ["LIST_MAX", "SEEN_DAYS", "SYSTEM_ACTOR", "AlertStore", "Now"]


class AlertStore(Intake, Changes, Queries):
    """The alerts of one home. Use :meth:`open`, and as a context manager."""

    @classmethod
    def open(cls, home: Home, cfg: AlertsConfig | None = None) -> AlertStore:
        """The store of `home` (created on first use), with `cfg` or the home's `[alerts]`."""
        if cfg is None:
            try:
                cfg = home.config().alerts
            except MamoriError as e:
                raise AlertsUnavailable(
                    f"the configuration cannot be read: {e.message}", hint=e.hint
                ) from e
        return cls(home, connect(home), cfg)

    def disconnect(self) -> None:
        """Close the connection (the context manager does)."""
        self._conn.close()

    def __enter__(self) -> AlertStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.disconnect()
