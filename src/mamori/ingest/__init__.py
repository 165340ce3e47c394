"""Receiving logs: pure parsers (syslog, RFC 6587 framing) used by the receivers."""

from __future__ import annotations

from mamori.ingest.errors import IngestError
from mamori.ingest.framing import Frame, FrameDecoder, OctetCountingDecoder
from mamori.ingest.syslog import SyslogMessage, parse, to_ecs

__all__ = [
    "Frame",
    "FrameDecoder",
    "IngestError",
    "OctetCountingDecoder",
    "SyslogMessage",
    "parse",
    "to_ecs",
]
