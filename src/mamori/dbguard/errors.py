"""The error base of :mod:`mamori.dbguard`."""

from __future__ import annotations

from mamori.errors import MamoriError


class DbGuardError(MamoriError):
    """The database guard cannot do what was asked: a bad setting, an unreachable server, a
    statement that cannot be analysed."""
