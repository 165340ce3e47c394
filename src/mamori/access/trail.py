"""Audit events for accounts, roles and sessions, recorded by the functions that make the change.

The change is committed first, then its event goes to the outbox (:func:`mamori.audit.record`),
from which `mamori up` appends it to the ledger. When the event cannot be recorded the function
raises: the change stands, and the error says so. A sign-in whose attempt cannot be recorded
therefore fails (closed), and a one-time password whose reset cannot be recorded is not shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mamori import audit
from mamori.access.errors import AccessError
from mamori.errors import MamoriError
from mamori.home import Home

ALERT = {"alert": True}
"""Merged into the fields of events that detection raises as alerts (role.granted,
role.changed, user.locked): `mamori.audit.alert: true` in the ledger."""


def record(
    home: Home,
    action: str,
    fields: Mapping[str, Any],
    *,
    done: str,
    outcome: str = "success",
) -> None:
    """Record the event of a change already made (`done` says what, for the error message)."""
    try:
        audit.record(home, action, outcome=outcome, fields=fields)
    except MamoriError as e:
        raise AccessError(
            f"{done}, but its audit event ({action}) could not be recorded: {e.message}",
            hint="the change stands; make the outbox writable again (disk space, permissions) "
            "and note the change in your records",
        ) from e


def with_actor(fields: Mapping[str, Any], actor: str | None) -> dict[str, Any]:
    """`fields`, plus the console account that acted when there is one (the CLI's is the
    operating-system user, in `user.name`)."""
    out = dict(fields)
    if actor is not None:
        out["actor"] = actor
    return out
