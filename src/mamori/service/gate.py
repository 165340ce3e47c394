"""The device gate (APP-7): which sources may send, and a record of those nobody registered.

Every receiver asks :meth:`SourceGate.check` about a new connection (TCP, TLS, HTTP request)
or a datagram's source. A source the registry does not know is recorded as a
`device.unregistered` event, once per receiver, address and certificate an hour (a flood from
one unknown host is one event, not a flood of events). With `[devices] require_registered`,
such a source is refused as well. While the registry is empty and registration is not
required, the gate lets everything through without recording: the registry is not in use.
"""

from __future__ import annotations

import time
from typing import Protocol

from mamori.audit import audit_event
from mamori.service.metrics import Metrics

REPEAT_AFTER_S = 3600.0


class _Device(Protocol):
    @property
    def name(self) -> str: ...


class Registry(Protocol):
    """What the gate needs of :class:`mamori.access.devices.DeviceRegistry`."""

    def match(self, ip: str | None, fingerprint: str | None) -> _Device | None: ...

    @property
    def empty(self) -> bool: ...


class Offer(Protocol):
    def offer(self, events: list[bytes], *, receiver: str) -> bool: ...


class SourceGate:
    """Decides and records; cheap enough to call per datagram (results are cached)."""

    def __init__(
        self, registry: Registry, sink: Offer, metrics: Metrics, *, require_registered: bool
    ) -> None:
        self.registry = registry
        self.sink = sink
        self.metrics = metrics
        self.require_registered = require_registered
        self._recorded: dict[tuple[str, str, str], float] = {}

    def check(self, receiver: str, ip: str, fingerprint: str | None) -> tuple[bool, str | None]:
        """(allowed, registered device name) for a source."""
        device = self.registry.match(ip or None, fingerprint)
        if device is not None:
            return True, device.name
        if not self.require_registered and self.registry.empty:
            return True, None
        self._record(receiver, ip, fingerprint)
        return not self.require_registered, None

    def refused_certificate(self, receiver: str, ip: str, reason: str) -> None:
        """A TLS handshake failed on the client certificate (none, or nobody vouches for it)."""
        self._record(
            receiver, ip, None, refused=True, reason=f"client certificate refused: {reason}"
        )

    def _record(
        self,
        receiver: str,
        ip: str,
        fingerprint: str | None,
        *,
        refused: bool | None = None,
        reason: str | None = None,
    ) -> None:
        self.metrics.unregistered.labels(receiver).inc()
        key = (receiver, ip, fingerprint or "")
        now = time.monotonic()
        last = self._recorded.get(key)
        if last is not None and now - last < REPEAT_AFTER_S:
            return
        if len(self._recorded) > 100_000:
            self._recorded.clear()
        self._recorded[key] = now
        refused = self.require_registered if refused is None else refused
        fields: dict[str, object] = {"receiver": receiver, "address": ip, "refused": refused}
        if reason:
            fields["reason"] = reason
        if fingerprint:
            fields["certificate_sha256"] = fingerprint
        event = audit_event(
            "device.unregistered",
            outcome="failure" if refused else "unknown",
            fields=fields,
        )
        self.sink.offer([event], receiver="mamori")
