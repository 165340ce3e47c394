"""The error base of :mod:`mamori.incidents`: every refusal says what is wrong and what to do.

A caller tells three kinds apart: a refusal (:class:`IncidentsError` and its :class:`NotFound`
and :class:`WorkflowRefused`: nothing changed), a store that cannot be used
(:class:`StoreUnavailable`: nothing changed, try again later), and a change that was made but
whose audit event is missing (:class:`AuditNotRecorded`: the change stands).
"""

from __future__ import annotations

from mamori.errors import MamoriError


class IncidentsError(MamoriError):
    """An incident, ticket, report or review cannot be made as asked."""


class NotFound(IncidentsError):
    """No incident, ticket, countermeasure or alert with that id."""


class WorkflowRefused(IncidentsError):
    """A step the workflow does not allow from the current stage (FLT-1)."""


class StoreUnavailable(IncidentsError):
    """A database of this package (HOME/incidents.db, HOME/tickets.db) or the alert store
    cannot be opened, read or written: a fault of the machine, not a refusal of the change."""


class AuditNotRecorded(IncidentsError):
    """The change was made (and stands), but its audit event could not be recorded.

    Its ``__cause__`` is the audit outbox's error (:class:`mamori.audit.AuditError`).
    """
