"""The alerts package's error base, and the two refusals a caller tells apart."""

from __future__ import annotations

from mamori.errors import MamoriError


class AlertsError(MamoriError):
    """The alert store cannot be used, or a change to an alert was refused."""


class AlertNotFound(AlertsError):
    """There is no alert with the id asked for."""


class TransitionRefused(AlertsError):
    """The alert's state does not allow the change (e.g. acknowledging a closed alert)."""


class AlertsUnavailable(AlertsError):
    """The store (HOME/alerts.db) cannot be opened, read or written."""


class AuditNotRecorded(AlertsError):
    """The change was made (and stands), but its audit event could not be recorded."""
