"""The error base of :mod:`mamori.vuln`."""

from __future__ import annotations

from mamori.errors import MamoriError


class VulnError(MamoriError):
    """Vulnerability management cannot do what was asked: an unreadable SBOM, lockfile or
    advisory file, a missing or stale vulnerability database, an unknown system."""
