"""The body of ``POST /api/v1/events``, decoded and checked (pure: bytes in, values out).

The handler in :mod:`mamori.web.app` does the I/O; everything here takes strings and bytes,
so it is tested (and fuzzed) without a server:

* :func:`choose_format` and :func:`wants_gzip` read the request's ``Content-Type``,
  ``Content-Encoding`` and ``?format=`` and refuse what is not supported (415, 400);
* :class:`GzipInflater` decompresses a gzip body chunk by chunk with a cap on the decoded
  size, so a gzip bomb costs at most the cap in memory (RFC 1952; concatenated members are
  read as one stream, as gzip(1) does);
* :func:`decode_body` turns the body into event objects, or a :class:`BodyError` listing every
  bad item with its position: validation is all-or-nothing;
* :func:`stamp` adds where each event came from and makes it canonical JSON.
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import orjson

from mamori.ingest.boundary import (
    Rejected,
    VPCFlowReader,
    ZeekTSVReader,
    parse_suricata_eve,
    parse_zeek_json,
)
from mamori.ledger.canonical import canonical
from mamori.web.errors import HttpError

__all__ = [
    "BOUNDARY_FORMATS",
    "JSON_TYPES",
    "LINES_TYPES",
    "MAX_LISTED",
    "BadItem",
    "BodyError",
    "BodyFormat",
    "GzipInflater",
    "choose_format",
    "decode_body",
    "source_address",
    "stamp",
    "wants_gzip",
]

Doc = dict[str, Any]

BodyFormat = Literal["json", "lines", "zeek", "suricata", "vpcflow"]
"""How a body is read: a JSON array (or one object), JSON Lines, or a boundary-log format."""

JSON_TYPES: Final = ("application/json",)
LINES_TYPES: Final = (
    "application/x-ndjson",
    "application/jsonl",
    "application/jsonlines",
    "text/plain",
)
BOUNDARY_FORMATS: Final = ("zeek", "suricata", "vpcflow")
GZIP_ENCODINGS: Final = ("gzip", "x-gzip")  # x-gzip: RFC 9110 §8.4.1.3
MAX_LISTED: Final = 100
"""At most this many bad items are listed in an error; `bad_items` gives the full count."""

_MAX_REASON: Final = 200
_BOM: Final = b"\xef\xbb\xbf"


# --- what the request says about its body ----------------------------------------------------


def choose_format(content_type: str | None, query_format: str | None) -> BodyFormat:
    """How to read the body, from ``Content-Type`` and ``?format=``; raises 400 or 415.

    Without ``format`` a JSON body is an array of objects (or one object) and a lines body is
    JSON Lines. With ``format`` the body is log lines, so it must be sent as a lines type.
    """
    if query_format is not None and query_format not in BOUNDARY_FORMATS:
        raise HttpError(
            400,
            f"format={query_format[:40]!r} is not a known log format",
            hint=f"use format={', format='.join(BOUNDARY_FORMATS)}, or leave it out for JSON events",
        )
    accepted = ", ".join((*JSON_TYPES, *LINES_TYPES))
    if not content_type:
        raise HttpError(
            415,
            "the request has no Content-Type",
            hint=f"send one of: {accepted}",
        )
    media, _, params = content_type.partition(";")
    media = media.strip().lower()
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
            "us-ascii",
        ):
            raise HttpError(
                415,
                f"charset {value.strip()[:40]!r} is not supported",
                hint="send the body as UTF-8 (charset=utf-8, or no charset)",
            )
    if query_format is not None:
        if media in LINES_TYPES:
            return query_format  # type: ignore[return-value]  # checked against BOUNDARY_FORMATS
        raise HttpError(
            415,
            f"Content-Type {media[:60]!r} is not accepted with format={query_format}",
            hint=f"format={query_format} bodies are log lines: send Content-Type: text/plain "
            "(or application/x-ndjson)",
        )
    if media in JSON_TYPES:
        return "json"
    if media in LINES_TYPES:
        return "lines"
    raise HttpError(
        415, f"Content-Type {media[:60]!r} is not accepted", hint=f"send one of: {accepted}"
    )


def wants_gzip(content_encoding: str | None) -> bool:
    """True for a gzip body, False for an unencoded one; raises 415 for anything else."""
    coding = (content_encoding or "identity").strip().lower()
    if coding in GZIP_ENCODINGS:
        return True
    if coding in ("identity", ""):
        return False
    raise HttpError(
        415,
        f"Content-Encoding {coding[:40]!r} is not supported",
        hint="send the body uncompressed or with Content-Encoding: gzip",
    )


def too_large(limit: int, *, decoded: bool = False) -> HttpError:
    """The 413 answer for a body beyond `limit` bytes."""
    what = "decompressed body" if decoded else "body"
    return HttpError(
        413,
        f"the {what} is larger than the limit of {limit} bytes",
        hint="send fewer events per request (split the batch), or raise [http] max_body_bytes",
    )


class GzipInflater:
    """Decompresses a gzip stream fed in chunks, refusing to produce more than `limit` bytes.

    :meth:`feed` raises :class:`HttpError` 413 as soon as the output would pass `limit` (zlib
    is asked for at most one byte more than is left, so memory stays bounded whatever the
    compression ratio) and 400 for data that is not gzip; :meth:`finish` raises 400 when the
    stream stopped inside a member.
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._produced = 0
        self._inflater: Any = None  # zlib's Decompress type is not public
        self._fed = False

    def feed(self, data: bytes) -> bytes:
        """Decompress `data`; returns what it decodes to."""
        out: list[bytes] = []
        while data:
            if self._inflater is None or self._inflater.eof:
                # wbits 16 + MAX_WBITS: a gzip header and trailer (RFC 1952), checked.
                self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            self._fed = True
            room = self._limit - self._produced + 1
            try:
                chunk = self._inflater.decompress(data, room)
            except zlib.error as e:
                raise _corrupt(str(e)) from e
            self._produced += len(chunk)
            if self._produced > self._limit:
                raise too_large(self._limit, decoded=True)
            out.append(chunk)
            rest = (
                self._inflater.unused_data if self._inflater.eof else self._inflater.unconsumed_tail
            )
            if len(rest) >= len(data) and not chunk:
                break  # no progress: zlib wants more input
            data = rest
        return b"".join(out)

    def finish(self) -> None:
        """The body ended: check the last member was complete."""
        if self._fed and not self._inflater.eof:
            raise _corrupt("the stream ends inside a member")


def _corrupt(detail: str) -> HttpError:
    return HttpError(
        400,
        f"the body is not valid gzip ({detail[:80]})",
        hint="compress the whole body with gzip, or leave out Content-Encoding: gzip",
    )


# --- the body's items ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BadItem:
    """One item of a batch that could not be read."""

    position: int
    """0-based index of the item in the batch (blank lines and log headers are not items)."""
    reason: str
    """What is wrong with it, for a person."""
    line: int | None = None
    """1-based line number in the body, for line formats."""

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"position": self.position}
        if self.line is not None:
            item["line"] = self.line
        item["reason"] = self.reason
        return item


@dataclass(frozen=True, slots=True)
class BodyError:
    """Why a batch was refused (nothing of it is stored)."""

    message: str
    hint: str
    items: tuple[BadItem, ...] = ()
    """The first :data:`MAX_LISTED` bad items, in order; empty for an empty batch."""
    bad_items: int = 0
    """How many items are bad in all."""
    total_items: int = 0
    """How many items the batch had, good and bad (counted as rejected events)."""

    def http_error(self) -> HttpError:
        """The 400 answer."""
        return HttpError(
            400,
            self.message,
            hint=self.hint,
            extra={"items": [i.as_json() for i in self.items], "bad_items": self.bad_items},
        )


def decode_body(body: bytes, body_format: BodyFormat) -> list[Doc] | BodyError:
    """The events of a (decompressed) body; never raises.

    Returns at least one event, or a :class:`BodyError`: a batch with any bad item, or with no
    item at all, is refused whole.
    """
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    if body_format == "json":
        return _json_body(body)
    if body_format == "lines":
        return _lines_body(body, _json_line)
    if body_format == "suricata":
        return _lines_body(body, lambda text: _boundary(parse_suricata_eve(text)))
    if body_format == "zeek":
        tsv = ZeekTSVReader()

        def zeek(text: str) -> Doc | str | None:
            if text.lstrip().startswith("{"):
                return _boundary(parse_zeek_json(text))
            return _boundary(tsv.feed_line(text))

        return _lines_body(body, zeek)
    if body_format == "vpcflow":
        vpc = VPCFlowReader()
        return _lines_body(body, lambda text: _boundary(vpc.feed_line(text)))
    raise AssertionError(f"unknown body format {body_format!r}")  # pragma: no cover


_EMPTY_HINT: Final = "send at least one event: a JSON array of objects, or one object per line"
_FIX_HINT: Final = "fix the items listed (by position and line) and send the whole batch again"


def _empty() -> BodyError:
    return BodyError("the batch is empty: the body holds no events", _EMPTY_HINT)


_NOT_JSON: Final = "the body is not a valid JSON array of event objects: nothing was stored"


def _refused(bad: list[BadItem], total: int, message: str | None = None) -> BodyError:
    return BodyError(
        message or f"{len(bad)} of {total} items are not valid events: nothing was stored",
        _FIX_HINT,
        items=tuple(bad[:MAX_LISTED]),
        bad_items=len(bad),
        total_items=total,
    )


def _short(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 3] + "..."


def _type_name(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"


def _json_body(body: bytes) -> list[Doc] | BodyError:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _locate_json_error(body)
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        return BodyError(
            f"the body is {_type_name(value)}, not a JSON array of objects: nothing was stored",
            "send a JSON array of objects, one object, or JSON Lines with "
            "Content-Type: application/x-ndjson",
            items=(BadItem(0, f"{_type_name(value)} is not an event object"),),
            bad_items=1,
            total_items=1,
        )
    if not value:
        return _empty()
    bad = [
        BadItem(i, f"{_type_name(item)} is not an event object")
        for i, item in enumerate(value)
        if not isinstance(item, dict)
    ]
    return _refused(bad, len(value)) if bad else value


_WS: Final = " \t\r\n"


def _locate_json_error(body: bytes) -> BodyError:
    """Which item of a JSON body orjson refused, found with the standard library's decoder.

    Slow, but only on the error path. Each element the walk finds is checked with orjson too,
    so what orjson alone refuses (NaN, an invalid UTF-8 byte, a number out of range) is found.
    """
    # surrogateescape keeps invalid UTF-8 bytes, so they can be found and named below.
    text = body.decode("utf-8", "surrogateescape")
    decoder = json.JSONDecoder()
    pos = _skip_ws(text, 0)
    if pos >= len(text):
        return _empty()
    if text[pos] != "[":
        return _refused([BadItem(0, _single(text, pos, decoder))], 1, _NOT_JSON)
    bad: list[BadItem] = []
    index = 0
    pos = _skip_ws(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return _refused([BadItem(0, "content after the end of the array")], 1, _NOT_JSON)
    while True:
        if pos >= len(text):
            bad.append(BadItem(index, "the body ends inside the array: ']' expected"))
            break
        parsed = _element(text, pos, decoder)
        if isinstance(parsed, str):
            bad.append(BadItem(index, parsed))
            break
        end, value = parsed
        if not isinstance(value, dict):
            bad.append(BadItem(index, f"{_type_name(value)} is not an event object"))
        pos = _skip_ws(text, end)
        index += 1
        if pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
            if pos < len(text) and text[pos] == "]":
                bad.append(BadItem(index, "a comma is followed by no item"))
                break
            continue
        if pos < len(text) and text[pos] == "]":
            if _skip_ws(text, pos + 1) < len(text):
                bad.append(BadItem(index, "content after the end of the array"))
            break
        if pos >= len(text):
            bad.append(BadItem(index - 1, "the body ends after this item: ']' expected"))
        else:
            bad.append(BadItem(index - 1, "this item is not followed by ',' or ']'"))
        break
    if not bad:
        # The two decoders disagree on a body orjson refused: name the body, not an item.
        bad.append(BadItem(0, "the body is not valid JSON"))
    return _refused(bad, max(index, bad[-1].position + 1), _NOT_JSON)


def _single(text: str, pos: int, decoder: json.JSONDecoder) -> str:
    """Why a body that does not start with '[' was refused."""
    parsed = _element(text, pos, decoder)
    if isinstance(parsed, str):
        return parsed
    end, value = parsed
    if _skip_ws(text, end) < len(text):
        return (
            "content after the first JSON value: for one object per line, send "
            "Content-Type: application/x-ndjson"
        )
    if not isinstance(value, dict):
        return f"{_type_name(value)} is not an event object"
    return "the body is not valid JSON"


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _element(text: str, pos: int, decoder: json.JSONDecoder) -> tuple[int, Any] | str:
    """The JSON value at `pos` and where it ends, or why it is not valid."""
    try:
        _, end = decoder.raw_decode(text, pos)
    except json.JSONDecodeError as e:
        return _short(f"not valid JSON: {e.msg} (line {e.lineno} column {e.colno})")
    except RecursionError:
        return "not valid JSON: nested too deeply"
    raw = text[pos:end].encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return f"not valid UTF-8 (byte {e.start + 1} of the item)"
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return _short(f"not valid JSON: {e.msg}")
    return end, value


LineResult = Doc | str | None
"""An event, the reason a line is bad, or None for a line that is not an item (a header)."""


def _json_line(text: str) -> LineResult:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as e:
        return f"not valid JSON: {e.msg} (column {e.colno})"
    if isinstance(value, dict):
        return value
    return f"{_type_name(value)} is not an event object"


def _boundary(result: Doc | Rejected | None) -> LineResult:
    if isinstance(result, Rejected):
        return result.reason
    return result


def _lines_body(body: bytes, parse: Callable[[str], LineResult]) -> list[Doc] | BodyError:
    """Each non-blank line through `parse`; line numbers are 1-based, positions count items."""
    events: list[Doc] = []
    bad: list[BadItem] = []
    position = 0
    for number, raw in enumerate(body.split(b"\n"), 1):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            bad.append(
                BadItem(position, f"not valid UTF-8 (byte {e.start + 1} of the line)", number)
            )
            position += 1
            continue
        result = parse(text)
        if result is None:
            continue
        if isinstance(result, str):
            bad.append(BadItem(position, _short(result), number))
        elif not bad:
            events.append(result)
        position += 1
    if bad:
        return _refused(bad, position)
    if not events:
        return _empty()
    return events


# --- provenance and canonical bytes ----------------------------------------------------------

_FORGED_KEYS: Final = ("mamori.receiver", "mamori.token", "log.source.address")


def source_address(host: str, port: int) -> str:
    """``ip:port``; an IPv6 address is bracketed (``[::1]:port``, RFC 3986 §3.2.2)."""
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]:{port}"
    except ValueError:
        pass
    return f"{host}:{port}"


def stamp(events: Sequence[Doc], *, receiver: str, token_name: str, address: str) -> list[bytes]:
    """Each event with where it came from, as canonical JSON bytes; `events` are not changed.

    Sets ``mamori.receiver``, ``mamori.token`` and ``log.source.address``, merging into the
    event's own ``mamori``, ``log`` and ``log.source`` objects (one that is not an object is
    replaced). Top-level keys that spell those three fields with dots are dropped, so an event
    cannot carry a second, forged value of them.
    """
    out: list[bytes] = []
    for event in events:
        doc = dict(event)
        for key in _FORGED_KEYS:
            doc.pop(key, None)
        own = doc.get("mamori")
        mamori = dict(own) if isinstance(own, dict) else {}
        mamori["receiver"] = receiver
        mamori["token"] = token_name
        doc["mamori"] = mamori
        own_log = doc.get("log")
        log = dict(own_log) if isinstance(own_log, dict) else {}
        own_source = log.get("source")
        source = dict(own_source) if isinstance(own_source, dict) else {}
        source["address"] = address
        log["source"] = source
        doc["log"] = log
        out.append(canonical(doc))
    return out
