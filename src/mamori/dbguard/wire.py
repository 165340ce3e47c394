"""The few fields the tracker needs of the hot messages, read straight from their payloads.

:mod:`mamori.dbguard.protocol` decodes every message into an object, which is what tests, the
startup phase and rare messages want. A proxy in the path of every statement reads a Parse,
Bind, Describe, Execute and Sync from the client and a ParseComplete, BindComplete,
RowDescription, DataRow, CommandComplete and ReadyForQuery from the server per statement, and
needs only a handful of their fields: these functions read just those, with ``bytes.find`` and
``int.from_bytes`` instead of a reader object per message, and check the message as strictly as
the full decoder does (same acceptance: ``tests/dbguard/test_wire.py`` compares them on
generated and random payloads). Each raises :class:`ProtocolError` for a malformed payload.
"""

from __future__ import annotations

from typing import Final

from mamori.dbguard.protocol import ProtocolError, decode_text

_NAMES: Final = {
    0x53: "Sync",
    0x48: "Flush",
    0x31: "ParseComplete",
    0x32: "BindComplete",
    0x33: "CloseComplete",
    0x6E: "NoData",
    0x49: "EmptyQueryResponse",
    0x73: "PortalSuspended",
    0x63: "CopyDone",
}


def empty(kind: int, payload: bytes) -> None:
    """A message that has no payload (Sync, Flush, ParseComplete, …) has none."""
    if payload:
        raise ProtocolError(f"{_NAMES.get(kind, 'the message')} has {len(payload)} bytes too many")


def _cstr_end(payload: bytes, start: int, what: str) -> int:
    end = payload.find(0, start)
    if end < 0:
        raise ProtocolError(f"{what} has a string without its terminator")
    return end


def _truncated(what: str) -> ProtocolError:
    return ProtocolError(f"{what} is truncated")


def describe(payload: bytes, what: str = "Describe") -> str:
    """A Describe's (or Close's) target kind, ``S`` or ``P``; its name is checked, not read."""
    if not payload:
        raise _truncated(what)
    k = payload[0]
    if k not in (0x53, 0x50):
        raise ProtocolError(f"{what} must name a statement (S) or a portal (P)")
    end = _cstr_end(payload, 1, what)
    if end != len(payload) - 1:
        raise ProtocolError(f"{what} has {len(payload) - end - 1} bytes too many")
    return "S" if k == 0x53 else "P"


def execute(payload: bytes, enc: str = "utf-8") -> tuple[str, int]:
    """An Execute's portal and row limit (0: all rows)."""
    end = _cstr_end(payload, 0, "Execute")
    if len(payload) < end + 5:
        raise _truncated("Execute")
    if len(payload) > end + 5:
        raise ProtocolError(f"Execute has {len(payload) - end - 5} bytes too many")
    portal = decode_text(payload[:end], enc) if end else ""
    return portal, int.from_bytes(payload[end + 1 :], "big", signed=True)


def parse(payload: bytes, enc: str = "utf-8") -> tuple[str, str, tuple[int, ...]]:
    """A Parse's statement name, text and parameter type OIDs."""
    a = _cstr_end(payload, 0, "Parse")
    b = _cstr_end(payload, a + 1, "Parse")
    pos = b + 1
    if len(payload) < pos + 2:
        raise _truncated("Parse")
    n = int.from_bytes(payload[pos : pos + 2], "big", signed=True)
    if n < 0:
        raise ProtocolError("Parse has a negative count")
    pos += 2
    if len(payload) < pos + 4 * n:
        raise _truncated("Parse")
    if len(payload) > pos + 4 * n:
        raise ProtocolError(f"Parse has {len(payload) - pos - 4 * n} bytes too many")
    types = tuple(
        int.from_bytes(payload[i : i + 4], "big", signed=True) for i in range(pos, pos + 4 * n, 4)
    )
    name = decode_text(payload[:a], enc) if a else ""
    return name, decode_text(payload[a + 1 : b], enc), types


def _skip_formats(payload: bytes, pos: int) -> int:
    if len(payload) < pos + 2:
        raise _truncated("Bind")
    n = int.from_bytes(payload[pos : pos + 2], "big", signed=True)
    if n < 0:
        raise ProtocolError("Bind has a negative count")
    pos += 2 + 2 * n
    if len(payload) < pos:
        raise _truncated("Bind")
    return pos


def bind(payload: bytes, enc: str = "utf-8") -> tuple[str, str, int]:
    """A Bind's portal, statement and parameter count, without copying the values (the whole
    message is still checked)."""
    a = _cstr_end(payload, 0, "Bind")
    b = _cstr_end(payload, a + 1, "Bind")
    pos = _skip_formats(payload, b + 1)
    if len(payload) < pos + 2:
        raise _truncated("Bind")
    count = int.from_bytes(payload[pos : pos + 2], "big", signed=True)
    if count < 0:
        raise ProtocolError("Bind has a negative count")
    pos += 2
    size = len(payload)
    for _ in range(count):
        if size < pos + 4:
            raise _truncated("Bind")
        n = int.from_bytes(payload[pos : pos + 4], "big", signed=True)
        pos += 4
        if n > 0:
            pos += n
            if size < pos:
                raise _truncated("Bind")
        elif n < -1:
            raise ProtocolError("Bind has a negative length")
    pos = _skip_formats(payload, pos)
    if pos != size:
        raise ProtocolError(f"Bind has {size - pos} bytes too many")
    portal = decode_text(payload[:a], enc) if a else ""
    statement = decode_text(payload[a + 1 : b], enc) if b > a + 1 else ""
    return portal, statement, count


def command_tag(payload: bytes, enc: str = "utf-8") -> str:
    """A CommandComplete's tag."""
    end = _cstr_end(payload, 0, "CommandComplete")
    if end != len(payload) - 1:
        raise ProtocolError(f"CommandComplete has {len(payload) - end - 1} bytes too many")
    return decode_text(payload[:end], enc)


def ready_status(payload: bytes) -> str:
    """A ReadyForQuery's transaction status: ``I``, ``T`` or ``E``."""
    if len(payload) != 1:
        if not payload:
            raise _truncated("ReadyForQuery")
        raise ProtocolError(f"ReadyForQuery has {len(payload) - 1} bytes too many")
    status = chr(payload[0])
    if status not in "ITE":
        raise ProtocolError(f"ReadyForQuery with an unknown status {status!r}")
    return status


def tag_rows(tag: str) -> tuple[str, int | None]:
    """A command tag's verb and row count, as :attr:`protocol.CommandComplete.verb` and
    ``.rows`` give them (``INSERT 0 5`` → ``("INSERT", 5)``)."""
    _head, sep, last = tag.rpartition(" ")
    if sep and last.isdigit() and len(last) <= 19 and last.isascii():
        rows: int | None = int(last)
    else:
        rows = None
    words = tag.split()
    while words and words[-1].isdigit():
        words.pop()
    return " ".join(words), rows
