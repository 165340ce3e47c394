"""The access package's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class AccessError(MamoriError):
    """A token or device cannot be added, found or changed, or the access database is unusable."""
