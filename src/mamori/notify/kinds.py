"""The closed vocabularies of notifications: kinds, severities, transports, SMTP security.

Each is a `StrEnum`, so its members are the strings written in mamori.toml and stored in
HOME/notify.db.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, assert_never


class Kind(StrEnum):
    """What a notification is about: the `kinds` a route takes."""

    ALERT = "alert"
    """A detection rule fired."""
    ESCALATION = "escalation"
    """An alert or incident was not handled in time and goes up a level."""
    INCIDENT = "incident"
    """An incident was opened or changed."""
    CSIRT = "csirt"
    """A report to the CSIRT; sent to the addresses its sender gives, not routed by default."""
    BREACH = "breach"
    """A (possible) personal-data breach: the clock for reporting it runs."""
    TICKET = "ticket"
    """A service-desk ticket."""


DEFAULT_KINDS: Final = tuple(k for k in Kind if k is not Kind.CSIRT)
"""The kinds a route takes when its `kinds` is not given: all but CSIRT reports."""


class Severity(StrEnum):
    """Sigma rule levels, lowest first (https://sigmahq.io/docs/basics/rules.html#level)."""

    INFORMATIONAL = "informational"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for informational up to 4 for critical: comparable."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER: Final = tuple(Severity)


class Transport(StrEnum):
    """How a route delivers: the `kind` key of a [[route]] table."""

    EMAIL = "email"
    WEBHOOK = "webhook"


class Security(StrEnum):
    """How the SMTP connection is protected: `[smtp] security`."""

    STARTTLS = "starttls"
    """Plain connect, then STARTTLS before anything else (RFC 3207); refused if not offered."""
    TLS = "tls"
    """TLS from the first byte ("implicit TLS", submissions port 465, RFC 8314 §3.3)."""
    NONE = "none"
    """No encryption: only to a server on this machine (127.0.0.1, ::1, localhost)."""

    @property
    def default_port(self) -> int:
        match self:
            case Security.STARTTLS:
                return 587
            case Security.TLS:
                return 465
            case Security.NONE:
                return 25
            case _ as unreachable:
                assert_never(unreachable)
