"""What every transport returns or raises; the dispatcher sees only these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mamori.notify.errors import NotifyError


@dataclass(frozen=True, slots=True)
class Sent:
    """The receiving side accepted the message."""

    detail: str
    """For a person: "Message-ID <…>" or "HTTP 204"."""
    fields: Mapping[str, Any] = field(default_factory=dict)
    """For the `notify.sent` audit event: message_id, smtp_reply, http_status, refused, …
    never a secret."""


class SendError(NotifyError):
    """A delivery attempt failed. `permanent`: retrying cannot help (a 4xx answer, a refused
    recipient); otherwise it is retried with backoff."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        hint: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.permanent = permanent
        self.retry_after_s = retry_after_s
        """The receiver asked to wait this long (HTTP Retry-After), if it said."""
