"""PostgreSQL's structured server logs, record by record: csvlog and jsonlog (pure).

* **csvlog** (``log_destination = 'csvlog'``): RFC 4180 CSV, one record per log message; a
  quoted field (message, statement, detail …) may span lines. The columns are those of
  https://www.postgresql.org/docs/15/runtime-config-logging.html#RUNTIME-CONFIG-LOGGING-CSVLOG
  (23 up to PostgreSQL 12, 24 in 13, 26 from 14 on: all are read).
* **jsonlog** (PostgreSQL 15+, ``log_destination = 'jsonlog'``): one JSON object per line,
  keys as in §20.8.5 of the same page; absent keys are empty values.

:class:`CsvAssembler` turns the lines a follower reads into whole csvlog records: a record
is complete when its double quotes balance (PostgreSQL quotes every text field and doubles
quotes inside, so an odd count means a quoted field goes on to the next line).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

CSV_COLUMNS: Final = (
    "log_time",
    "user_name",
    "database_name",
    "process_id",
    "connection_from",
    "session_id",
    "session_line_num",
    "command_tag",
    "session_start_time",
    "virtual_transaction_id",
    "transaction_id",
    "error_severity",
    "sql_state_code",
    "message",
    "detail",
    "hint",
    "internal_query",
    "internal_query_pos",
    "context",
    "query",
    "query_pos",
    "location",
    "application_name",
    "backend_type",
    "leader_pid",
    "query_id",
)
"""csvlog's columns in order (PostgreSQL 14+; older servers write a prefix of them)."""
MIN_CSV_COLUMNS: Final = 23

MAX_RECORD_BYTES: Final = 1 << 20
"""A csvlog record longer than this (over several lines) is kept as rejected bytes."""

# --- RFC 4180 fields ----------------------------------------------------------------------------

_QUOTED: Final = re.compile(r'"([^"]*+(?:""[^"]*+)*+)"')  # possessive: no backtracking into ""


def split_csv(text: str, *, lenient: bool = False) -> list[str] | None:
    """The fields of one CSV record (RFC 4180 §2: quoted fields may hold commas, line breaks
    and doubled quotes); None when it is not valid CSV. With `lenient`, an unterminated quoted
    field runs to the end (a record cut short)."""
    out: list[str] = []
    pos = 0
    n = len(text)
    while True:
        if pos < n and text[pos] == '"':
            m = _QUOTED.match(text, pos)
            if m is None:
                if not lenient:
                    return None
                out.append(text[pos + 1 :].replace('""', '"'))
                return out
            out.append(m.group(1).replace('""', '"'))
            pos = m.end()
        else:
            end = text.find(",", pos)
            if end < 0:
                end = n
            field = text[pos:end]
            if '"' in field:
                return None
            out.append(field)
            pos = end
        if pos >= n:
            return out
        if text[pos] != ",":
            return None
        pos += 1


# --- csvlog lines → records -----------------------------------------------------------------------

_RECORD_START: Final = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass(frozen=True, slots=True)
class Assembled:
    """A whole csvlog record's bytes (lines joined with ``\\n``)."""

    raw: bytes
    cut: bool = False
    """A line of it was cut at the tail's size limit: quoted fields may be unterminated."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """Lines that are not a whole record, and why."""

    raw: bytes
    reason: str


class CsvAssembler:
    """Collects lines until a csvlog record is whole (see the module docstring).

    A line that should start a record but does not begin with a timestamp is a piece of a
    record whose start was not read (a follower that resumed mid-record): it comes back as a
    :class:`Fragment`, as does a record that grows past :data:`MAX_RECORD_BYTES`. A line cut
    at the tail's size limit ends its record (its quotes cannot be counted).
    """

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._size = 0
        self._open = False

    @property
    def holding(self) -> bool:
        """True while part of a record is held."""
        return bool(self._parts)

    @property
    def held_bytes(self) -> int:
        """How many bytes of the file the held lines cover, newlines included: a follower's
        position minus this is where the held record starts."""
        return sum(len(p) + 1 for p in self._parts)

    def take(self) -> bytes:
        """The held partial record's bytes (empty if none); forgets them."""
        raw = b"\n".join(self._parts)
        self._parts = []
        self._size = 0
        self._open = False
        return raw

    def feed(self, line: bytes, cut: bool = False) -> Assembled | Fragment | None:
        """The record `line` completes, a fragment, or None while a record goes on."""
        if not self._parts:
            if not _RECORD_START.match(line):
                return Fragment(
                    line,
                    "not the start of a csvlog record (the rest of a record whose first lines "
                    "were not read, or not a csvlog file)",
                )
            if cut or line.count(b'"') % 2 == 0:
                return Assembled(line, cut)
            self._parts = [line]
            self._size = len(line)
            self._open = True
            return None
        self._parts.append(line)
        self._size += len(line) + 1
        if line.count(b'"') % 2:
            self._open = not self._open
        if cut or not self._open:
            return Assembled(self.take(), cut)
        if self._size > MAX_RECORD_BYTES:
            return Fragment(
                self.take()[:MAX_RECORD_BYTES],
                f"a csvlog record longer than {MAX_RECORD_BYTES} bytes (an unterminated "
                "quoted field?); kept cut to that size",
            )
        return None


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One server log message, from either format (empty strings for absent values)."""

    time: str
    user: str = ""
    database: str = ""
    pid: str = ""
    remote_host: str = ""
    """An address (or a host name with ``log_hostname``), or ``[local]``."""
    remote_port: str = ""
    session_id: str = ""
    line_num: str = ""
    command_tag: str = ""
    """What the backend was doing (``ps`` display: ``SELECT``, ``authentication`` …)."""
    vxid: str = ""
    txid: str = ""
    severity: str = ""
    """``LOG``, ``ERROR``, ``FATAL``, ``WARNING`` …"""
    sqlstate: str = ""
    message: str = ""
    detail: str = ""
    hint: str = ""
    internal_query: str = ""
    context: str = ""
    query: str = ""
    """The statement the message is about (errors); written as the client sent it."""
    location: str = ""
    application: str = ""
    backend_type: str = ""
    query_id: str = ""


def from_csv(fields: list[str]) -> LogRecord | None:
    """A record from csvlog's fields; None when there are too few."""
    if len(fields) < MIN_CSV_COLUMNS:
        return None
    f = dict(zip(CSV_COLUMNS, fields, strict=False))
    host, port = f["connection_from"], ""
    if not host.startswith("[") and ":" in host:
        h, _, p = host.rpartition(":")
        if p.isdigit():
            host, port = h, p
    return LogRecord(
        time=f["log_time"],
        user=f["user_name"],
        database=f["database_name"],
        pid=f["process_id"],
        remote_host=host,
        remote_port=port,
        session_id=f["session_id"],
        line_num=f["session_line_num"],
        command_tag=f["command_tag"],
        vxid=f["virtual_transaction_id"],
        txid=f["transaction_id"],
        severity=f["error_severity"],
        sqlstate=f["sql_state_code"],
        message=f["message"],
        detail=f["detail"],
        hint=f["hint"],
        internal_query=f["internal_query"],
        context=f["context"],
        query=f["query"],
        location=f["location"],
        application=f.get("application_name", ""),
        backend_type=f.get("backend_type", ""),
        query_id=f.get("query_id", ""),
    )


def _s(obj: dict[str, Any], key: str) -> str:
    v = obj.get(key)
    if v is None or isinstance(v, dict | list):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def from_json(obj: dict[str, Any]) -> LogRecord | None:
    """A record from a jsonlog object; None when it has no ``timestamp`` or ``message``."""
    if "timestamp" not in obj or "message" not in obj:
        return None
    location = _s(obj, "func_name")
    if obj.get("file_name"):
        location = f"{location}, {_s(obj, 'file_name')}:{_s(obj, 'file_line_num')}"
    return LogRecord(
        time=_s(obj, "timestamp"),
        user=_s(obj, "user"),
        database=_s(obj, "dbname"),
        pid=_s(obj, "pid"),
        remote_host=_s(obj, "remote_host"),
        remote_port=_s(obj, "remote_port"),
        session_id=_s(obj, "session_id"),
        line_num=_s(obj, "line_num"),
        command_tag=_s(obj, "ps"),
        vxid=_s(obj, "vxid"),
        txid=_s(obj, "txid"),
        severity=_s(obj, "error_severity"),
        sqlstate=_s(obj, "state_code"),
        message=_s(obj, "message"),
        detail=_s(obj, "detail"),
        hint=_s(obj, "hint"),
        internal_query=_s(obj, "internal_query"),
        context=_s(obj, "context"),
        query=_s(obj, "statement"),
        location=location,
        application=_s(obj, "application_name"),
        backend_type=_s(obj, "backend_type"),
        query_id=_s(obj, "query_id"),
    )


# --- time ---------------------------------------------------------------------------------------

_TIME: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ?([A-Za-z]{1,6}|[+-]\d\d(?::?\d\d)?)?\Z"
)
# Abbreviations PostgreSQL writes for common log_timezone settings (a zone without one is
# written as a numeric offset, which needs no table). The configured zone is tried first.
_ABBREVIATIONS: Final = {
    "UTC": 0,
    "UT": 0,
    "GMT": 0,
    "Z": 0,
    "JST": 9 * 60,
    "KST": 9 * 60,
    "HKT": 8 * 60,
    "SGT": 8 * 60,
    "AWST": 8 * 60,
    "AEST": 10 * 60,
    "AEDT": 11 * 60,
    "NZST": 12 * 60,
    "NZDT": 13 * 60,
    "IST": 5 * 60 + 30,
    "CET": 60,
    "CEST": 2 * 60,
    "EET": 2 * 60,
    "EEST": 3 * 60,
    "BST": 60,
    "WET": 0,
    "WEST": 60,
    "EST": -5 * 60,
    "EDT": -4 * 60,
    "CST": -6 * 60,
    "CDT": -5 * 60,
    "MST": -7 * 60,
    "MDT": -6 * 60,
    "PST": -8 * 60,
    "PDT": -7 * 60,
}


def parse_time(text: str, tz: dt.tzinfo) -> dt.datetime | None:
    """A log timestamp (``2026-11-27 17:04:19.142 UTC``, ``… +09``) as an aware datetime;
    None when it is not one. An abbreviation is read in `tz` when `tz` uses it then, else
    from a table of common ones, else the time is taken to be in `tz`."""
    m = _TIME.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "0")[:6].ljust(6, "0")
    try:
        naive = dt.datetime(y, mo, d, h, mi, s, int(frac))  # naive: the zone is set below
    except ValueError:
        return None
    when = _zoned(naive, m.group(8) or "", tz)
    if when is None:
        return None
    try:
        when.astimezone(dt.UTC)  # 9999-12-31 23:00 -05 is past datetime's range in UTC
    except (OverflowError, ValueError):
        return None
    return when


def _zoned(naive: dt.datetime, zone: str, tz: dt.tzinfo) -> dt.datetime | None:
    if zone[:1] in ("+", "-"):
        digits = zone[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
        if minutes >= 24 * 60:
            return None
        offset = dt.timedelta(minutes=minutes if zone[0] == "+" else -minutes)
        return naive.replace(tzinfo=dt.timezone(offset))
    local = naive.replace(tzinfo=tz)
    try:
        if not zone or local.tzname() == zone:
            return local
    except (OverflowError, ValueError):
        return None
    known = _ABBREVIATIONS.get(zone.upper())
    if known is not None:
        return naive.replace(tzinfo=dt.timezone(dt.timedelta(minutes=known)))
    return local


def rfc3339(when: dt.datetime) -> str:
    """``2026-11-27T17:04:19.142000Z``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
