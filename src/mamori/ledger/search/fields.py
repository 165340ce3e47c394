"""What the search index keeps of one event: filter fields, field tokens and full text (pure).

Every function here takes values and returns values; :mod:`mamori.ledger.search.index` does
the I/O. The same functions serve indexing and querying, so a value is normalised the same way
on both sides.

Field names follow ECS (https://www.elastic.co/guide/en/ecs/current/ecs-field-reference.html).
An event may spell a field nested (``{"host": {"name": "a"}}``) or dotted (``{"host.name": "a"}``)
or mix both; :func:`leaves` flattens all of them to the same dotted path.

Japanese text has no spaces between words, so SQLite's unicode61 tokenizer would make a whole
sentence one token. :func:`analyze` therefore rewrites every run of CJK characters as its
overlapping bigrams before the text reaches SQLite (the approach of Lucene's CJKBigramFilter);
docs/search.md explains why this was chosen over the trigram tokenizer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import re
import socket
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mamori.ledger.canonical import format_number

MAX_TEXT_CHARS = 32_768
"""Full text indexed per event, in characters; text beyond it is not found by words."""

MAX_FIELDS = 1_024
"""Field values indexed per event for `field:value` search; later ones are not indexed."""

KNOWN_FIELDS: Mapping[str, tuple[str, ...]] = {
    "host": ("host.name", "host.hostname"),
    "app": ("log.syslog.appname", "process.name", "service.name"),
    "user": ("user.name",),
    "action": ("event.action",),
    "outcome": ("event.outcome",),
    "severity": (
        "log.syslog.severity.name",
        "log.syslog.severity.code",
        "log.level",
        "event.severity",
    ),
}
"""The short filter names and the ECS fields each one reads (any of them may match)."""

SOURCE_IP_FIELDS = ("source.ip", "client.ip")
DESTINATION_IP_FIELDS = ("destination.ip", "server.ip")

ROLE_SOURCE = 1
ROLE_DESTINATION = 2

_PATH_KIND: dict[str, str] = {p: k for k, paths in KNOWN_FIELDS.items() for p in paths}
_PATH_ROLE: dict[str, int] = {p: ROLE_SOURCE for p in SOURCE_IP_FIELDS} | {
    p: ROLE_DESTINATION for p in DESTINATION_IP_FIELDS
}

TIME_FIELD = "@timestamp"
# Timestamps are searched by --since/--until; their digits as words or field tokens would add
# one never-repeated term per event to the index and match nothing anyone searches for.
_NOT_TEXT = frozenset({TIME_FIELD, "event.created", "event.ingested"})

# RFC 5424 §6.2.1 severity keywords, with the spellings other sources use for the same level.
SEVERITY_NAMES: Mapping[str, str] = {
    "emerg": "emerg", "emergency": "emerg", "panic": "emerg",
    "alert": "alert",
    "crit": "crit", "critical": "crit", "fatal": "crit",
    "err": "err", "error": "err",
    "warning": "warning", "warn": "warning",
    "notice": "notice",
    "info": "info", "informational": "info", "information": "info",
    "debug": "debug", "trace": "debug",
}  # fmt: skip
_SYSLOG_CODES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")

# Runs of characters written without spaces between words: Han, kana, Hangul syllables and the
# iteration marks. U+30FB (katakana middle dot) is punctuation and separates runs.
_CJK_RUN = re.compile(
    "[\u3005-\u3007\u3040-\u309f\u30a0-\u30fa\u30fc-\u30ff\u31f0-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]+"
)

_blake2b = hashlib.blake2b
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Extracted:
    """The index's view of one event."""

    time_us: int
    """@timestamp in µs since the epoch, UTC; the received time when absent or unparseable."""
    text: str
    """Full text, already analysed (see :func:`analyze`)."""
    tokens: str
    """Space-separated field tokens, one per (field, value), see :func:`field_token`."""
    ips: tuple[tuple[int, bytes], ...]
    """(role, 16-byte address) for every source and destination address."""


def leaves(event: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """Every scalar in the event as (dotted path, value), in document order.

    List elements share the list's path. Values nested deeper than :data:`MAX_DEPTH` objects
    or lists are left out (no real log nests that deep; the bound keeps recursion safe).
    """
    out: list[tuple[str, Any]] = []
    _walk(event, "", out, 0)
    return out


MAX_DEPTH = 32


def _walk(obj: Mapping[str, Any], prefix: str, out: list[tuple[str, Any]], depth: int) -> None:
    for key, value in obj.items():
        path = prefix + key
        kind = type(value)
        if kind is dict:
            if depth < MAX_DEPTH:
                _walk(value, path + ".", out, depth + 1)
        elif kind is list:
            if depth < MAX_DEPTH:
                _walk_list(value, path, out, depth + 1)
        else:
            out.append((path, value))


def _walk_list(items: list[Any], path: str, out: list[tuple[str, Any]], depth: int) -> None:
    for value in items:
        kind = type(value)
        if kind is dict:
            if depth < MAX_DEPTH:
                _walk(value, path + ".", out, depth + 1)
        elif kind is list:
            if depth < MAX_DEPTH:
                _walk_list(value, path, out, depth + 1)
        else:
            out.append((path, value))


def value_text(value: Any) -> str:
    """A scalar as `field:value` compares it: strings as they are, others as their JSON text."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        try:
            return format_number(value)
        except ValueError:
            return repr(value)
    return str(value)


def normalize_keyword(value: str) -> str:
    """Known-field values compare case- and width-insensitively: NFKC, then case folding."""
    if value.isascii():
        return value.strip().lower()  # casefold() is lower() on ASCII
    return unicodedata.normalize("NFKC", value).strip().casefold()


def normalize_severity(value: str) -> str:
    """A severity spelled any common way, as its RFC 5424 keyword (`ERROR` -> `err`)."""
    key = normalize_keyword(value)
    return SEVERITY_NAMES.get(key, key)


def field_digest(kind: str, value: str) -> bytes:
    """8 bytes standing for `kind` having exactly `value`; their hex is the index token.

    `kind` is a short filter name (``host``) for a normalised known field, or ``=`` followed by
    the dotted path for an exact match on any field. BLAKE2b-64 gives one short token whatever
    the value's length. Two values share a token only by a 64-bit collision: among 10**6
    distinct values, one chance in about 3 * 10**7 (n**2 / 2**65, the birthday bound); and a
    collision could only add a hit, never hide one.
    """
    return _blake2b(f"{kind}\x1f{value}".encode(), digest_size=8).digest()


def field_token(kind: str, value: str) -> str:
    """The index token, 16 hex digits, for `kind` having exactly `value`."""
    return field_digest(kind, value).hex()


def ip_key(value: str) -> bytes | None:
    """An address as 16 bytes that sort by address (IPv4 mapped into ::ffff:0:0/96), or None."""
    try:
        return _V4_MAPPED + socket.inet_pton(socket.AF_INET, value)
    except OSError:
        pass
    try:
        addr = ipaddress.ip_address(value.strip())  # IPv6, with or without a zone (%eth0)
    except ValueError:
        return None
    return ipv6_bytes(addr)


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def ipv6_bytes(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    """RFC 4291 §2.5.5.2: IPv4 addresses are kept as IPv4-mapped IPv6 addresses."""
    if isinstance(addr, ipaddress.IPv4Address):
        return _V4_MAPPED + addr.packed
    return addr.packed


def parse_timestamp(value: str) -> int | None:
    """An event timestamp (RFC 3339 or ISO 8601) as µs UTC; no zone means UTC; None if invalid."""
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return (when - _EPOCH) // _US


def analyze(text: str, *, query: bool = False) -> str:
    """Text as it is handed to the unicode61 tokenizer: NFKC, and CJK runs as bigrams.

    A CJK run c1..cn becomes ``c1c2 c2c3 … c(n-1)cn cn``: every bigram, then the last character
    alone, so that any substring of two or more characters is a phrase of bigrams and a single
    character is a prefix of some token. With `query`, a run that ends the text gives only its
    bigrams (the indexed run may continue past it), and a one-character run at the end is left
    for the caller to mark as a prefix; see :func:`query_tokens`.
    """
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    end = len(text)

    def bigrams(m: re.Match[str]) -> str:
        run = m.group()
        pairs = [run[i : i + 2] for i in range(len(run) - 1)]
        if not (query and m.end() == end) or len(run) == 1:
            pairs.append(run[-1])
        return " " + " ".join(pairs) + " "

    return _CJK_RUN.sub(bigrams, text)


def query_tokens(text: str) -> tuple[str, bool]:
    """A query word or phrase as analysed text, and whether its last token must be a prefix.

    A query ending in a one-character CJK run must find that character either at the start of
    an indexed bigram or as a run's last character: a prefix query in FTS5.
    """
    norm = text if text.isascii() else unicodedata.normalize("NFKC", text)
    single = bool(norm) and is_cjk(norm[-1]) and (len(norm) == 1 or not is_cjk(norm[-2]))
    return analyze(norm, query=True), single


def is_cjk(ch: str) -> bool:
    """Whether the character belongs to a run that :func:`analyze` splits into bigrams."""
    return _CJK_RUN.fullmatch(ch) is not None


def has_token(text: str) -> bool:
    """Whether unicode61 finds at least one token in the text (a letter, digit or private use)."""
    for ch in unicodedata.normalize("NFKC", text):
        cat = unicodedata.category(ch)
        if cat[0] in "LN" or cat == "Co":
            return True
    return False


def known_value(kind: str, value: Any) -> str:
    """A known field's value as stored and compared (see :data:`KNOWN_FIELDS`)."""
    text = value_text(value)
    return normalize_severity(text) if kind == "severity" else normalize_keyword(text)


def extract(event: Mapping[str, Any], received_us: int) -> Extracted:
    """Everything the index keeps of one event (its body itself stays in the ledger)."""
    time_us: int | None = None
    message: list[str] = []
    others: list[str] = []
    digests: list[bytes] = []
    ips: list[tuple[int, bytes]] = []
    pairs = leaves(event)
    path_kind = _PATH_KIND
    for path, value in pairs[:MAX_FIELDS] if len(pairs) > MAX_FIELDS else pairs:
        if type(value) is str:
            if path == TIME_FIELD:
                if time_us is None:
                    time_us = parse_timestamp(value)
                continue
            text = value
            if path == "message":
                message.append(value)
            elif path not in _NOT_TEXT:
                others.append(value)
        else:
            text = value_text(value)
        digests.append(_blake2b(f"={path}\x1f{text}".encode(), digest_size=8).digest())
        kind = path_kind.get(path)
        if kind is not None:
            if path == "log.syslog.severity.code":
                # RFC 5424 §6.2.1 numbers the levels 0..7; event.severity's numbers depend on
                # the source, so they are kept as written.
                if type(value) is int and 0 <= value <= 7:
                    digests.append(field_digest(kind, _SYSLOG_CODES[value]))
            else:
                digests.append(field_digest(kind, known_value(kind, value)))
        elif type(value) is str:
            role = _PATH_ROLE.get(path)
            if role is not None:
                key = ip_key(value)
                if key is not None:
                    ips.append((role, key))
    if len(pairs) > MAX_FIELDS:  # text beyond the field bound is still worth finding
        for path, value in pairs[MAX_FIELDS:]:
            if type(value) is str and path not in _NOT_TEXT:
                (message if path == "message" else others).append(value)
    return Extracted(
        time_us=received_us if time_us is None else time_us,
        text=analyze(_bounded_text(message, others)),
        tokens=b"".join(dict.fromkeys(digests)).hex(" ", 8),
        ips=tuple(dict.fromkeys(ips)) if len(ips) > 1 else tuple(ips),
    )


def _bounded_text(message: list[str], others: list[str]) -> str:
    """The message first, then other distinct string values, up to MAX_TEXT_CHARS."""
    parts = [v for v in dict.fromkeys(message + others) if v]
    text = "\n".join(parts)
    return text if len(text) <= MAX_TEXT_CHARS else text[:MAX_TEXT_CHARS]
