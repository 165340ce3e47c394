"""The one place that talks to notifications (:mod:`mamori.notify`): e-mail to the CSIRT
(:func:`send_mail`) and routed notices of incidents and breached timers (:func:`notify`).

The notify package is imported when first used; tests of the other modules replace both.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mamori.errors import MamoriError
from mamori.home import Home
from mamori.incidents.errors import IncidentsError


def send_mail(
    home: Home,
    to: Sequence[str],
    subject: str,
    body: str,
    payload: Mapping[str, Any],
    kind: str,
    *,
    cc: Sequence[str] = (),
    severity: str = "high",
) -> None:
    """Queue an e-mail to exactly `to` (and `cc`) for the notifier to send.

    `kind` is a notification kind (`csirt` for reports to the CSIRT). A notification has no Cc
    of its own: the Cc addresses receive the message too, and are listed in its payload.
    """
    from mamori.notify import Kind, Notification, Severity, enqueue

    if not to:
        raise IncidentsError("an e-mail needs at least one address")
    try:
        notification = Notification(
            kind=Kind(kind),
            subject=subject,
            body=body,
            payload={**payload, "to": list(to), "cc": list(cc)},
            severity=Severity(severity),
            to=tuple(dict.fromkeys([*to, *cc])),
        )
        enqueue(home, notification)
    except ValueError as e:  # a kind or severity notify does not know: a bug here
        raise IncidentsError(f"the e-mail could not be queued: {e}") from e
    except MamoriError as e:
        raise IncidentsError(f"the e-mail could not be queued: {e.message}", hint=e.hint) from e


def notify(
    home: Home,
    kind: str,
    subject: str,
    body: str,
    payload: Mapping[str, Any],
    *,
    severity: str,
    rule: str | None = None,
) -> None:
    """Queue a notification along every `[[route]]` that takes its kind and severity
    (`incident` when one is opened, `breach` for a personal-information breach, `escalation`
    when a timer is breached). With no route taking it, notify records that it went nowhere."""
    from mamori.notify import Kind, Notification, Severity, enqueue

    try:
        enqueue(
            home,
            Notification(
                kind=Kind(kind),
                subject=subject,
                body=body,
                payload=dict(payload),
                severity=Severity(severity),
                rule=rule,
            ),
        )
    except ValueError as e:
        raise IncidentsError(f"the notification could not be queued: {e}") from e
    except MamoriError as e:
        raise IncidentsError(
            f"the notification could not be queued: {e.message}", hint=e.hint
        ) from e
