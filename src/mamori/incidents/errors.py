"""The error base of :mod:`mamori.incidents`: every refusal says what is wrong and what to do."""

from __future__ import annotations

from mamori.errors import MamoriError


class IncidentsError(MamoriError):
    """An incident, ticket, report or review cannot be made as asked."""


class NotFound(IncidentsError):
    """No incident, ticket or countermeasure with that id."""


class WorkflowRefused(IncidentsError):
    """A step the workflow does not allow from the current stage (FLT-1)."""
