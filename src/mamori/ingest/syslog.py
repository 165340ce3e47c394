"""Parsing one syslog message, RFC 5424 or RFC 3164, and mapping it to ECS (pure).

`parse` takes the bytes of one message (one UDP datagram, one RFC 6587 frame) and never
raises: whatever it cannot read becomes a message of format ``"unparsed"`` with the raw bytes
kept. Detection, per message:

1. A valid PRI (``<0>``..``<191>``, no leading zeros) followed by a VERSION (``1``..``999``)
   and a space is RFC 5424, parsed strictly by its ABNF (§6). If the rest breaks the grammar,
   the message is ``"unparsed"`` (facility and severity from its PRI): half-reading a
   message that claims to be RFC 5424 would invent fields.
2. Otherwise RFC 3164 (§4.1): an optional PRI, then a TIMESTAMP ``Mmm dd hh:mm:ss`` (day
   space- or zero-padded; optional fraction) or an RFC 3339 timestamp (rsyslog's
   high-precision template in the 3164 layout), then HOSTNAME, then ``TAG[pid]: `` when present.
   The year of a ``Mmm dd`` timestamp is the latest that does not put it more than a day
   after `received` (so a ``Dec 31`` message received on 1 January belongs to the previous
   year, and a ``Jan 1`` one from a sender a few seconds ahead on 31 December to the next;
   ``Feb 29`` goes back to the last leap year, up to four years).
   A message with a valid PRI but no readable TIMESTAMP is still RFC 3164 (§4.3.2: all of it
   after the PRI is the MSG), with no timestamp and no hostname.
3. No valid PRI and no readable timestamp: ``"unparsed"``, with the default PRI 13
   (user.notice, RFC 3164 §4.3.3) and the whole input as the message.

A missing PRI means facility 1 (user), severity 5 (notice), as a relay would add (RFC 3164
§4.3.3). Text is UTF-8; invalid sequences in the MSG are replaced (U+FFFD) and flagged with
`message_invalid_utf8`. A UTF-8 BOM at the start of the MSG is removed (RFC 5424 §6.4), and
trailing CR, LF and NUL bytes are removed from the message (``raw`` keeps them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

__all__ = [
    "FACILITY_NAMES",
    "SEVERITY_NAMES",
    "SyslogMessage",
    "parse",
    "parse_kv",
    "to_ecs",
]

Format = Literal["rfc5424", "rfc3164", "unparsed"]

FACILITY_NAMES: tuple[str, ...] = (
    "kern",  # 0 kernel messages
    "user",  # 1 user-level messages
    "mail",  # 2 mail system
    "daemon",  # 3 system daemons
    "auth",  # 4 security/authorization messages
    "syslog",  # 5 messages generated internally by syslogd
    "lpr",  # 6 line printer subsystem
    "news",  # 7 network news subsystem
    "uucp",  # 8 UUCP subsystem
    "cron",  # 9 clock daemon
    "authpriv",  # 10 security/authorization messages
    "ftp",  # 11 FTP daemon
    "ntp",  # 12 NTP subsystem
    "security",  # 13 log audit
    "console",  # 14 log alert
    "solaris-cron",  # 15 clock daemon (note 2)
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
)
"""Facility keywords by code: the rows of RFC 5424 §6.2.1 table 1, named as syslog.conf does."""

SEVERITY_NAMES: tuple[str, ...] = (
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
)
"""Severity names by code, as in RFC 5424 §6.2.1 table 2."""

DEFAULT_PRI = 13
"""user.notice: what a relay assigns to a message without a PRI (RFC 3164 §4.3.3)."""


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    """One syslog message, as read from its bytes."""

    facility: int
    severity: int
    format: Format
    raw: bytes
    message: str
    message_invalid_utf8: bool = False
    version: int | None = None
    """The RFC 5424 VERSION; None for RFC 3164 and unparsed."""
    timestamp: datetime | None = None
    """Always timezone-aware when present."""
    hostname: str | None = None
    app_name: str | None = None
    """RFC 5424 APP-NAME, or the RFC 3164 TAG."""
    procid: str | None = None
    """RFC 5424 PROCID, or the pid in an RFC 3164 ``TAG[pid]:``."""
    msgid: str | None = None
    structured_data: dict[str, dict[str, str]] = field(default_factory=dict)
    """RFC 5424 SD-ELEMENTs: SD-ID → {PARAM-NAME: value}, escapes resolved. A repeated
    SD-ID's parameters are merged; a repeated PARAM-NAME keeps its last value."""

    @property
    def priority(self) -> int:
        return self.facility * 8 + self.severity

    @property
    def facility_name(self) -> str:
        return FACILITY_NAMES[self.facility]

    @property
    def severity_name(self) -> str:
        return SEVERITY_NAMES[self.severity]


# --- shared pieces ---------------------------------------------------------------------------

_PRI = re.compile(rb"<(0|[1-9][0-9]{0,2})>")
_TRAILING = b"\r\n\x00"
_BOM = b"\xef\xbb\xbf"


def _decode(data: bytes) -> tuple[str, bool]:
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace"), True


def _message(data: bytes) -> tuple[str, bool]:
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    return _decode(data.rstrip(_TRAILING))


def _offset(text: bytes | None, default_tz: tzinfo) -> tzinfo | None:
    """An RFC 3339 offset (``Z``, ``+hh:mm``, lenient ``+hhmm``); None when out of range."""
    if text is None:
        return default_tz
    try:
        return _OFFSETS[text]
    except KeyError:
        pass
    tz: tzinfo | None
    if text in (b"Z", b"z"):
        tz = UTC
    else:
        hours, minutes = int(text[1:3]), int(text[-2:])
        if hours > 23 or minutes > 59:
            tz = None
        else:
            delta = timedelta(hours=hours, minutes=minutes)
            tz = timezone(-delta if text[:1] == b"-" else delta)
    # Bounded: the offset patterns allow at most 2 + 4 * 10**4 distinct texts.
    _OFFSETS[text] = tz
    return tz


_OFFSETS: dict[bytes, tzinfo | None] = {}
"""Offset text → zone (None: out of range); the same few offsets come again and again."""


def _micro(fraction: bytes | None) -> int:
    if not fraction:
        return 0
    return int(fraction[1:7].ljust(6, b"0"))


# --- RFC 5424 --------------------------------------------------------------------------------

_PRINT = rb"[!-~]"
_HEADER_5424 = re.compile(
    rb"([1-9][0-9]{0,2}) (\S+) ("
    + _PRINT
    + rb"{1,255}) ("
    + _PRINT
    + rb"{1,48}) ("
    + _PRINT
    + rb"{1,128}) ("
    + _PRINT
    + rb"{1,32}) "
)
_VERSION_5424 = re.compile(rb"[1-9][0-9]{0,2} ")
_TS_5424 = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,6})?"
    rb"(Z|[+-][0-9]{2}:[0-9]{2})\Z"
)
# SD-NAME: PRINTUSASCII except '=', SP, ']' and '"' (RFC 5424 §6.3).
_SD_NAME = rb"[!#-<>-\\^-~]{1,32}"
# PARAM-VALUE up to its closing '"': any bytes but '"' and '\', or '\' and any byte.
_SD_VALUE = rb'[^"\\]*(?:\\.[^"\\]*)*'
# STRUCTURED-DATA = 1*SD-ELEMENT, SD-ELEMENT = "[" SD-ID *(SP SD-PARAM) "]" (§6.3). Names
# cannot hold SP, '=', ']' or '"', and a value ends at its first unescaped '"', so each
# element reads one way only; `_SD_TOKEN` then walks the same text an SD-ID or a parameter
# at a time.
_SD = re.compile(
    rb"(?:\[" + _SD_NAME + rb"(?: " + _SD_NAME + rb'="' + _SD_VALUE + rb'")*\])+', re.DOTALL
)
_SD_TOKEN = re.compile(
    rb"\[(" + _SD_NAME + rb")| (" + _SD_NAME + rb')="(' + _SD_VALUE + rb')"', re.DOTALL
)
_SD_ESCAPE = re.compile(rb'\\(["\\\]])')


def _timestamp_5424(text: bytes) -> datetime | Literal[False] | None:
    """The TIMESTAMP; None for NILVALUE; False when invalid."""
    if text == b"-":
        return None
    m = _TS_5424.match(text)
    if m is None:
        return False
    ts = _iso_datetime(m, UTC)
    return False if ts is None else ts


def _iso_datetime(m: re.Match[bytes], default_tz: tzinfo) -> datetime | None:
    """The datetime of an RFC 3339 match (groups: Y m d H M S fraction offset); None if invalid."""
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    tz = _offset(offset, default_tz)
    if tz is None:
        return None
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            _micro(fraction),
            tzinfo=tz,
        )
    except ValueError:
        return None


def _structured_data(data: bytes, i: int) -> tuple[dict[str, dict[str, str]], int] | None:
    """STRUCTURED-DATA starting at `i`: the elements and the index after them."""
    if data[i : i + 1] == b"-":
        return {}, i + 1
    m = _SD.match(data, i)
    if m is None:
        return None
    end = m.end()
    if data[end : end + 1] == b"[":
        return None  # a malformed element after well-formed ones
    sd: dict[str, dict[str, str]] = {}
    params: dict[str, str] = {}
    for sd_id, name, value in _SD_TOKEN.findall(data, i, end):
        if sd_id:
            params = sd.setdefault(sd_id.decode("ascii"), {})
            continue
        if b"\\" in value:
            value = _SD_ESCAPE.sub(rb"\1", value)
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = value.decode("utf-8", "replace")
        params[name.decode("ascii")] = text
    return sd, end


def _parse_5424(raw: bytes, pri: int, start: int) -> SyslogMessage | None:
    m = _HEADER_5424.match(raw, start)
    if m is None:
        return None
    version, ts, hostname, app_name, procid, msgid = m.groups()
    timestamp = _timestamp_5424(ts)
    if timestamp is False:
        return None
    parsed = _structured_data(raw, m.end())
    if parsed is None:
        return None
    sd, i = parsed
    if i == len(raw):
        message, invalid = "", False
    elif raw[i] == 0x20:
        message, invalid = _message(raw[i + 1 :])
    else:
        return None
    return SyslogMessage(
        facility=pri >> 3,
        severity=pri & 7,
        format="rfc5424",
        raw=raw,
        message=message,
        message_invalid_utf8=invalid,
        version=int(version),
        timestamp=timestamp,
        hostname=None if hostname == b"-" else hostname.decode("ascii", "replace"),
        app_name=None if app_name == b"-" else app_name.decode("ascii", "replace"),
        procid=None if procid == b"-" else procid.decode("ascii", "replace"),
        msgid=None if msgid == b"-" else msgid.decode("ascii", "replace"),
        structured_data=sd,
    )


# --- RFC 3164 --------------------------------------------------------------------------------

_MONTHS = {
    m.encode(): i
    for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_TS_3164 = re.compile(
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) {1,2}([0-9]{1,2}) "
    rb"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?(?: +|\Z)"
)
_TS_ISO = re.compile(
    rb"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]{1,9})?"
    rb"(Z|[+-][0-9]{2}:?[0-9]{2})?(?: +|\Z)"
)
_CLOCK_SKEW = timedelta(days=1)
_HOST = re.compile(rb"(\S{1,255})(?: +|\Z)")
# TAG[pid]: — a TAG is up to 48 bytes of anything but space, ':' and brackets.
_TAG = re.compile(rb"([^\s:\[\]]{1,48})(?:\[([^\s\]]{1,128})\])?:(?: |\Z)")


def _aware(received: datetime | None, default_tz: tzinfo) -> datetime:
    if received is None:
        return datetime.now(default_tz)
    if received.tzinfo is None or received.utcoffset() is None:
        return received.replace(tzinfo=default_tz)
    return received.astimezone(default_tz)


def _timestamp_3164(
    raw: bytes, i: int, received: datetime | None, default_tz: tzinfo
) -> tuple[datetime, int] | None:
    m = _TS_3164.match(raw, i)
    if m is not None:
        ref = _aware(received, default_tz)
        month, day = _MONTHS[m.group(1)], int(m.group(2))
        h, mi, s = int(m.group(3)), int(m.group(4)), int(m.group(5))
        # The latest year that does not put the time more than a day after `received`.
        latest = ref + _CLOCK_SKEW
        for year in (ref.year + 1, ref.year, ref.year - 1, ref.year - 4):
            try:
                candidate = datetime(
                    year, month, day, h, mi, s, _micro(m.group(6)), tzinfo=default_tz
                )
            except ValueError:
                continue
            if candidate <= latest:
                return candidate, m.end()
        return None
    m = _TS_ISO.match(raw, i)
    if m is not None:
        ts = _iso_datetime(m, default_tz)
        return None if ts is None else (ts, m.end())
    return None


def _parse_3164(
    raw: bytes, pri: int | None, start: int, received: datetime | None, default_tz: tzinfo
) -> SyslogMessage | None:
    facility, severity = divmod(DEFAULT_PRI if pri is None else pri, 8)
    found = _timestamp_3164(raw, start, received, default_tz)
    if found is None:
        if pri is None:
            return None
        message, invalid = _message(raw[start:])
        return SyslogMessage(
            facility=facility,
            severity=severity,
            format="rfc3164",
            raw=raw,
            message=message,
            message_invalid_utf8=invalid,
        )
    timestamp, i = found
    hostname: str | None = None
    # A token that is itself "TAG:" or "TAG[pid]:" means the sender left out the HOSTNAME.
    if _TAG.match(raw, i) is None:
        host = _HOST.match(raw, i)
        if host is not None:
            hostname = _decode(host.group(1))[0]
            i = host.end()
    app_name = procid = None
    tag = _TAG.match(raw, i)
    if tag is not None:
        app_name = _decode(tag.group(1))[0]
        procid = None if tag.group(2) is None else _decode(tag.group(2))[0]
        i = tag.end()
    message, invalid = _message(raw[i:])
    return SyslogMessage(
        facility=facility,
        severity=severity,
        format="rfc3164",
        raw=raw,
        message=message,
        message_invalid_utf8=invalid,
        timestamp=timestamp,
        hostname=hostname,
        app_name=app_name,
        procid=procid,
    )


# --- entry points ----------------------------------------------------------------------------


def parse(
    data: bytes, *, received: datetime | None = None, default_tz: tzinfo = UTC
) -> SyslogMessage:
    """Parse one syslog message; never raises.

    `received` (default: now) fixes the year of RFC 3164 ``Mmm dd`` timestamps; `default_tz`
    is the zone of timestamps that carry none (RFC 3164's, and a naive `received`).
    """
    raw = data if type(data) is bytes else bytes(data)
    pri: int | None = None
    start = 0
    m = _PRI.match(raw)
    if m is not None:
        value = int(m.group(1))
        if value <= 191:
            pri, start = value, m.end()
    if pri is not None and _VERSION_5424.match(raw, start):
        parsed = _parse_5424(raw, pri, start)
    else:
        parsed = _parse_3164(raw, pri, start, received, default_tz)
    if parsed is not None:
        return parsed
    facility, severity = divmod(DEFAULT_PRI if pri is None else pri, 8)
    message, invalid = _decode(raw)
    return SyslogMessage(
        facility=facility,
        severity=severity,
        format="unparsed",
        raw=raw,
        message=message,
        message_invalid_utf8=invalid,
    )


_KV_TEXT = re.compile(
    r'(?<!\S)([A-Za-z_][A-Za-z0-9_.\-]{0,63})=("[^"\\]*(?:\\.[^"\\]*)*"|[^\s"=]*)(?=\s|\Z)'
)
_KV_UNESCAPE = re.compile(r'\\(["\\])')


def parse_kv(text: str) -> dict[str, str] | None:
    """The key=value pairs of a message, when it clearly is key=value; else None.

    The rule: a pair is ``key=value`` standing alone between whitespace, the key a letter or
    ``_`` then up to 63 letters, digits, ``_``, ``.`` or ``-``, the value either a double-quoted
    string (``\\"`` and ``\\\\`` escapes) or a run without whitespace, ``"`` or ``=`` (one
    trailing ``,`` or ``;`` is dropped from it; it may be empty). The message is key=value when
    it has at least two pairs, no key twice, and no ``=`` anywhere outside its pairs; prose
    before and between the pairs is allowed (``authentication failure; uid=0 rhost=x``).
    """
    if text.count("=") < 2:
        return None
    found = _KV_TEXT.findall(text)
    if len(found) < 2:
        return None
    pairs: dict[str, str] = {}
    quoted_equals = 0
    for key, value in found:
        if key in pairs:
            return None  # a key twice
        if value[:1] == '"':
            value = value[1:-1]
            quoted_equals += value.count("=")
            if "\\" in value:
                value = _KV_UNESCAPE.sub(r"\1", value)
        elif value[-1:] in (",", ";"):
            value = value[:-1]
        pairs[key] = value
    # Each pair holds one '=' of its own plus those inside a quoted value (keys and bare
    # values have none): any other '=' stands outside the pairs.
    if text.count("=") != len(found) + quoted_equals:
        return None
    return pairs


def _rfc3339(ts: datetime) -> str | None:
    """RFC 3339 UTC with a ``Z``; None when the time has no UTC equivalent (year 1 or 9999
    with an offset that takes it out of datetime's range)."""
    try:
        utc = ts.astimezone(UTC)
    except OverflowError:
        return None
    if utc.year >= 1000:
        # isoformat() is strftime's layout (and much faster), ending in "+00:00" for UTC.
        text = utc.isoformat()[:-6]
        return (text.rstrip("0") if utc.microsecond else text) + "Z"
    # strftime writes years below 1000 without padding (glibc); kept as it was.
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "Z"


def to_ecs(msg: SyslogMessage, *, received: datetime | None = None) -> dict[str, Any]:
    """The message as a nested ECS document.

    ``@timestamp`` is the message's own time in UTC (RFC 3339, ``Z``), else `received` when
    given. ``event.original`` is the raw bytes as text, invalid UTF-8 escaped as ``\\xNN``
    (nothing is lost). ``mamori.syslog.format`` says how it was read; ``mamori.kv`` holds the
    message's pairs when :func:`parse_kv` finds it clearly key=value.
    """
    doc: dict[str, Any] = {}
    # A timestamp with no UTC equivalent counts as none.
    stamp = None if msg.timestamp is None else _rfc3339(msg.timestamp)
    if stamp is None and received is not None:
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        stamp = _rfc3339(received)
    if stamp is not None:
        doc["@timestamp"] = stamp
    facility, severity = msg.facility, msg.severity
    syslog: dict[str, Any] = {
        "facility": {"code": facility, "name": FACILITY_NAMES[facility]},
        "severity": {"code": severity, "name": SEVERITY_NAMES[severity]},
        "priority": facility * 8 + severity,
    }
    if msg.version is not None:
        syslog["version"] = str(msg.version)
    if msg.app_name is not None:
        syslog["appname"] = msg.app_name
    if msg.procid is not None:
        syslog["procid"] = msg.procid
    if msg.msgid is not None:
        syslog["msgid"] = msg.msgid
    if msg.structured_data:
        syslog["structured_data"] = {k: dict(v) for k, v in msg.structured_data.items()}
    doc["log"] = {"syslog": syslog}
    if msg.hostname is not None:
        doc["host"] = {"hostname": msg.hostname, "name": msg.hostname}
    process: dict[str, Any] = {}
    if msg.app_name is not None:
        process["name"] = msg.app_name
    if msg.procid is not None and msg.procid.isascii() and msg.procid.isdigit():
        process["pid"] = int(msg.procid)
    if process:
        doc["process"] = process
    doc["event"] = {"original": msg.raw.decode("utf-8", "backslashreplace")}
    doc["message"] = msg.message
    mamori: dict[str, Any] = {"syslog": {"format": msg.format}}
    if msg.message_invalid_utf8:
        mamori["syslog"]["message_invalid_utf8"] = True
    kv = parse_kv(msg.message)
    if kv is not None:
        mamori["kv"] = kv
    doc["mamori"] = mamori
    return doc
