"""Prometheus metrics of the service, in a registry of its own (no process-global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    """Every metric `mamori up` exports on /metrics."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "mamori_events_received", "Events received, per receiver", ["receiver"], registry=r
        )
        self.appended = Counter(
            "mamori_events_appended",
            "Events stored in the ledger, per receiver",
            ["receiver"],
            registry=r,
        )
        self.rejected = Counter(
            "mamori_events_rejected",
            "Input kept as ingest.rejected events or refused (HTTP 400/413/503), per receiver",
            ["receiver"],
            registry=r,
        )
        self.spooled = Counter(
            "mamori_events_spooled",
            "Events written to the spool, per receiver",
            ["receiver"],
            registry=r,
        )
        self.dropped = Counter(
            "mamori_events_dropped",
            "UDP datagrams dropped because nothing could take them, per receiver",
            ["receiver"],
            registry=r,
        )
        self.connections = Gauge(
            "mamori_connections", "Open connections, per receiver", ["receiver"], registry=r
        )
        self.spool_bytes = Gauge("mamori_spool_bytes", "Bytes in the spool", registry=r)
        self.spooling = Gauge(
            "mamori_spooling", "1 while the ledger's storage is unavailable", registry=r
        )
        self.store_unavailable = Counter(
            "mamori_store_unavailable", "Times the ledger's storage became unavailable", registry=r
        )
        self.writer_lag = Gauge(
            "mamori_writer_lag_seconds",
            "Age of the oldest event waiting for the ledger writer",
            registry=r,
        )
        self.queue_events = Gauge(
            "mamori_writer_queue_events", "Events waiting for the ledger writer", registry=r
        )
        self.checkpoint_age = Gauge(
            "mamori_checkpoint_age_seconds",
            "Seconds since the latest signed checkpoint",
            registry=r,
        )
        self.tree_size = Gauge("mamori_ledger_tree_size", "Events in the ledger", registry=r)
        self.unregistered = Counter(
            "mamori_unregistered_sources",
            "Connections or messages from sources the device registry does not know",
            ["receiver"],
            registry=r,
        )
        self.detect_events = Counter(
            "mamori_detect_events", "Ledger entries evaluated by live detection", registry=r
        )
        self.detections = Counter(
            "mamori_detections", "Detections (rule matches) handed to alerting", registry=r
        )
        self.detect_lag = Gauge(
            "mamori_detect_lag_events",
            "Ledger entries appended but not yet evaluated by live detection",
            registry=r,
        )

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
