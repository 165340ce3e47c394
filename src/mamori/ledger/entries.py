"""Turning received bytes into ledger events, and events into leaf entries (pure).

A leaf entry is the canonical JSON object ``{"event": E, "index": I, "received": T}``: the event
as received (canonicalised), the index the sequencer gave it and the time it was sequenced. The
three member names sort in that order, so the bytes are RFC 8785 canonical as a whole and the
index and time are covered by the leaf hash: a row moved to another position no longer matches
its own index, which is how verify tells `reordered` from `modified`.

Input that is not a JSON object is never dropped: it becomes an ``ingest.rejected`` event that
keeps the raw bytes (base64) and says why; input longer than the configured limit is kept up to
the limit and flagged ``truncated``.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import orjson

from mamori.ledger.canonical import canonical

REJECTED_ACTION = "ingest.rejected"


@dataclass(frozen=True, slots=True)
class Prepared:
    """One input line made ready for the sequencer."""

    event: bytes
    """The canonical bytes of the event object."""
    rejected: str | None = None
    """Why the input was not accepted as an event, if it was not (it is still stored)."""


def prepare(raw: bytes, *, line: int | None = None, truncated_from: int | None = None) -> Prepared:
    """Parse one input line into a canonical event; anything unusable becomes a rejected event.

    `truncated_from` is the original length when `raw` was cut at the size limit.
    """
    if truncated_from is not None:
        return _rejected(
            raw,
            f"event of {truncated_from} bytes exceeds the size limit; kept truncated",
            line=line,
            truncated_from=truncated_from,
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        reason = "not valid UTF-8" if _bad_utf8(raw) else f"not valid JSON ({e})"
        return _rejected(raw, reason, line=line)
    if type(value) is not dict:
        return _rejected(raw, f"a JSON {_json_type(value)}, not an object", line=line)
    return Prepared(canonical(value))


def prepare_value(value: dict[str, Any]) -> bytes:
    """The canonical bytes of an event that mamori itself produced."""
    return canonical(value)


def _rejected(
    raw: bytes, reason: str, *, line: int | None, truncated_from: int | None = None
) -> Prepared:
    info: dict[str, Any] = {
        "raw": base64.b64encode(raw).decode("ascii"),
        "raw_bytes": len(raw),
    }
    if line is not None:
        info["line"] = line
    if truncated_from is not None:
        info["truncated"] = True
        info["original_bytes"] = truncated_from
    event = {
        "event": {"action": REJECTED_ACTION, "kind": "pipeline_error", "dataset": "mamori.ingest"},
        "error": {"message": reason},
        "message": raw[:4096].decode("utf-8", errors="replace"),
        "mamori": {"ingest": info},
    }
    return Prepared(canonical(event), rejected=reason)


def _bad_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def _json_type(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def format_received(received_us: int) -> bytes:
    """RFC 3339 UTC with microseconds, the fixed-width form stored in every entry."""
    t = dt.datetime.fromtimestamp(received_us / 1_000_000, tz=dt.UTC)
    # Recompute the microseconds exactly: the float division above may round.
    t = t.replace(microsecond=received_us % 1_000_000)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode("ascii")


ENTRY_FORMAT = b'{"event":%b,"index":%d,"received":"%b"}'
"""The leaf entry as a bytes format over (canonical event, index, received)."""


def make_entry(event: bytes, index: int, received: bytes) -> bytes:
    """The leaf entry bytes for a canonical event (see the module docstring)."""
    return ENTRY_FORMAT % (event, index, received)


_INDEX_KEY = b',"index":'
_RECEIVED_KEY = b',"received":"'


def entry_index(entry: bytes) -> int | None:
    """The index written inside an entry, or None when the entry is not in the entry form.

    The event comes first and the index and time last, so the last `,"index":` is ours even when
    the event's own strings contain the same characters.
    """
    at = entry.rfind(_INDEX_KEY)
    if at < 0:
        return None
    end = entry.find(_RECEIVED_KEY, at)
    if end < 0:
        return None
    digits = entry[at + len(_INDEX_KEY) : end]
    if not digits.isdigit():
        return None
    return int(digits)


def entry_event(entry: bytes) -> dict[str, Any]:
    """The event object inside an entry."""
    value = orjson.loads(entry)
    event = value["event"]
    assert isinstance(event, dict)
    return event
