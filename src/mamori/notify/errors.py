"""The notify package's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class NotifyError(MamoriError):
    """A notification cannot be built, queued, sent or listed."""
