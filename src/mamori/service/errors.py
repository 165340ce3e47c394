"""The service's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class ServiceError(MamoriError):
    """`mamori up` cannot start or go on (a port taken, a certificate missing, ...)."""


class SinkRejected(ServiceError):
    """The events were not accepted: storage and spool are both full and the policy is reject,
    or the service is stopping. Nothing of the refused batch was stored."""
