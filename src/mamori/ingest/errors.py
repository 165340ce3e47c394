"""The ingest package's error base."""

from __future__ import annotations

from mamori.errors import MamoriError


class IngestError(MamoriError):
    """Something went wrong receiving or normalising events.

    The pure parsers in this package never raise it for bad input (bad input becomes an
    `unparsed` message or an error frame); it is for receivers and configuration.
    """
