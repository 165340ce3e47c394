"""Audit events of incidents and tickets, recorded after the change is committed.

Every change becomes one event in the outbox (:func:`mamori.audit.record`), from which the
running service appends it to the ledger. The fields carry the incident (or ticket) id, the
actor, the time of the change and what changed, so the timeline can be rebuilt from the ledger
alone. When the event cannot be recorded the change stands and the error says so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from mamori import audit
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.incidents.errors import AuditNotRecorded
from mamori.incidents.model import iso


def record(
    home: Home,
    action: str,
    fields: Mapping[str, Any],
    *,
    actor: str,
    at: dt.datetime,
    done: str,
    outcome: str = "success",
) -> None:
    """Record the event of a change already made (`done` says what, for the error message);
    AuditNotRecorded when the outbox refuses it (the change stands)."""
    try:
        audit.record(
            home, action, outcome=outcome, fields={**fields, "actor": actor, "at": iso(at)}
        )
    except MamoriError as e:
        raise AuditNotRecorded(
            f"{done}, but its audit event ({action}) could not be recorded: {e.message}",
            hint="the change stands; make the outbox writable again (disk space, permissions) "
            "and note the change in your records",
        ) from e
