"""The detection package's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class DetectError(MamoriError):
    """Rules or events could not be read, or a rule could not be compiled."""
