"""The database guard's counters, exported on `mamori up`'s ``/metrics`` (Prometheus).

Sessions count into plain integers as they go (no Prometheus call on the statement path);
:class:`DbGuardCollector` reads them when ``/metrics`` is scraped. Every family has the label
``proxy`` (the ``[[dbguard]]`` name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


@dataclass(slots=True)
class ProxyStats:
    """One proxy's running totals."""

    sessions_total: int = 0
    sessions_refused: int = 0
    """Connections turned away at ``max_client_connections``."""
    statements: int = 0
    statements_failed: int = 0
    statements_alerted: int = 0
    """With an ALERT or BLOCK decision (each also a ``decision`` event)."""
    statements_blocked: int = 0
    """Refused before running or stopped by a policy."""
    rows_returned: int = 0
    cancels: int = 0
    protocol_violations: int = 0


@dataclass(frozen=True, slots=True)
class Reading:
    """What the collector reads of one proxy at scrape time."""

    name: str
    stats: ProxyStats
    sessions_open: Callable[[], int]
    events_waiting: Callable[[], int]


_COUNTERS = (
    ("sessions", "Client connections accepted", "sessions_total"),
    ("sessions_refused", "Client connections refused at max_client_connections", "sessions_refused"),
    ("statements", "Statements seen (each a query event)", "statements"),
    ("statements_failed", "Statements that failed, were refused or not run", "statements_failed"),
    ("statements_alerted", "Statements with an alert or block decision", "statements_alerted"),
    ("statements_blocked", "Statements refused or stopped by the guard", "statements_blocked"),
    ("rows_returned", "Rows sent to clients (DataRow and COPY rows)", "rows_returned"),
    ("cancels", "Cancel requests sent to the server (client's and policies')", "cancels"),
    ("protocol_violations", "Sessions ended by a malformed message", "protocol_violations"),
)  # fmt: skip


class DbGuardCollector(Collector):
    """Prometheus families of the proxies `readings` gives (called at each scrape)."""

    def __init__(self, readings: Callable[[], Sequence[Reading]]) -> None:
        self.readings = readings

    def collect(self) -> Iterator[Metric]:
        readings = self.readings()
        for suffix, text, attr in _COUNTERS:
            family = CounterMetricFamily(f"mamori_dbguard_{suffix}", text, labels=["proxy"])
            for r in readings:
                family.add_metric([r.name], float(getattr(r.stats, attr)))
            yield family
        open_ = GaugeMetricFamily(
            "mamori_dbguard_sessions_open", "Client sessions open now", labels=["proxy"]
        )
        waiting = GaugeMetricFamily(
            "mamori_dbguard_events_waiting",
            "Events waiting for the ledger (sessions are slowed beyond events_per_session)",
            labels=["proxy"],
        )
        for r in readings:
            open_.add_metric([r.name], float(r.sessions_open()))
            waiting.add_metric([r.name], float(r.events_waiting()))
        yield open_
        yield waiting
