"""What every transport returns or raises (the dispatcher sees only these), and the TLS
context with a configured CA file that they share."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.fsutil import failure_reason
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


def ca_context(ca_file: Path | None, setting: str) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and name; with `ca_file`, only
    the CAs in it are trusted (a private CA). A CA file that cannot be read is a failure worth
    retrying (the operator can fix it): `setting` says where it is configured."""
    try:
        return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as e:
        raise SendError(
            f"cannot read the CA file {ca_file}: {failure_reason(e)}",
            permanent=False,
            hint=f"check {setting}: a PEM file of CA certificates",
        ) from e
