"""The root of mamori's error hierarchy.

Every package defines one error base that subclasses :class:`MamoriError`. An error carries a
message for a person: what went wrong and, where there is one, what to do about it. The CLI
catches only this base and prints :meth:`MamoriError.diagnostics`; anything else is a bug.
"""

from __future__ import annotations


class MamoriError(Exception):
    """An error with a message meant for the person running mamori."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong, in one sentence."""
        self.hint = hint
        """What to do about it, if anything can be done."""

    def diagnostics(self) -> str:
        """The message and the hint, ready to print."""
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message
