"""Network-boundary logs (CLD-7): Zeek ``conn.log``, Suricata EVE, AWS VPC flow logs (pure).

Each parser takes one line (``bytes`` or ``str``; bytes are UTF-8, invalid sequences
replaced) and returns a nested ECS document, or a :class:`Rejected` naming the problem.
Bad input never raises: the parsers return :class:`Rejected` instead of raising
:class:`~mamori.ingest.errors.IngestError` (which, as that module says, is for receivers and
configuration, not for bad input). The receiver decides what to do with a rejected line
(typically: keep it as an unparsed event with the reason).

Formats:

* Zeek ASCII (TSV) logs: header lines ``#separator`` (its value written with ``\\xHH``
  escapes, separated from the keyword by a space), then ``#set_separator``,
  ``#empty_field``, ``#unset_field``, ``#path``, ``#open``, ``#fields``, ``#types`` and
  ``#close``, separated by the separator itself. Data fields equal to the unset marker
  (default ``-``) are absent; fields equal to the empty marker (default ``(empty)``) are
  empty containers; the separator and non-printable bytes inside values are ``\\xHH``
  escapes (Zeek's ASCII writer, ``LogAscii``). :class:`ZeekTSVReader` keeps that state.
  Only ``#path conn`` is mapped.
* Zeek JSON logs (``LogAscii::use_json``): one object per line, flat keys such as
  ``id.orig_h``; ``ts`` either epoch seconds or an ISO 8601 string (``JSON::TS_ISO8601``).
* Suricata EVE JSON: one object per line with ``timestamp`` and ``event_type``; ``alert``,
  ``flow``, ``dns``, ``http`` and ``tls`` are mapped beyond the common 5-tuple. A timestamp
  without an offset is taken as UTC.
* AWS VPC flow logs: space-separated records, default format version 2 (14 fields), or a
  custom format given by a header line of field names (as in S3 delivery);
  :class:`VPCFlowReader` keeps that state. ``-`` is an absent field; ``NODATA`` and
  ``SKIPDATA`` records are kept (with ``aws.vpcflow.log_status``), without addresses.

Every document has ``event.original`` (the line as text), ``event.kind``,
``event.category`` ``["network"]`` and ``event.dataset``; ``@timestamp`` is RFC 3339 UTC
with a ``Z`` and microseconds.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal

__all__ = [
    "VPC_DEFAULT_FIELDS",
    "Kind",
    "Rejected",
    "VPCFlowReader",
    "ZeekTSVReader",
    "detect",
    "parse_line",
    "parse_suricata_eve",
    "parse_vpc_flow",
    "parse_zeek_json",
]

Kind = Literal["zeek_tsv", "zeek_json", "suricata_eve", "aws_vpcflow"]

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Rejected:
    """A line a parser could not read; `reason` says what is wrong, for a human."""

    reason: str


# --- shared pieces ---------------------------------------------------------------------------

_MAX_PORT: Final = 65535

# IANA protocol numbers (https://www.iana.org/assignments/protocol-numbers), as ECS names
# them in network.transport (lower case).
_IANA_PROTOCOLS: Final[Mapping[int, str]] = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    132: "sctp",
}


def _text(line: bytes | str) -> str:
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    return line.rstrip("\r\n")


def _put(doc: Doc, path: str, value: Any) -> None:
    """Set a dotted ECS path in a nested document."""
    *parents, leaf = path.split(".")
    node = doc
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch(value: Decimal) -> datetime | None:
    """Epoch seconds (exact decimal) as an aware UTC datetime; None when out of range."""
    if not value.is_finite() or value.adjusted() >= 16:
        return None
    try:
        seconds = int(value.to_integral_value(rounding="ROUND_FLOOR"))
        micros = int(((value - seconds) * 1_000_000).to_integral_value(rounding="ROUND_FLOOR"))
        return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)
    except (OverflowError, OSError, ValueError, InvalidOperation):
        return None


def _iso(text: str) -> datetime | None:
    """An ISO 8601 / RFC 3339 timestamp; naive ones are UTC. None when unreadable."""
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            return when.replace(tzinfo=UTC)
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            return None
    else:
        return None
    # Finite and of a sane magnitude (no timestamp or duration needs 10**16 seconds).
    return result if result.is_finite() and result.adjusted() < 16 else None


def _count(value: Any) -> int | None:
    """A non-negative integer from an int or a string of ASCII digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None


def _port(value: Any) -> int | None:
    port = _count(value)
    return port if port is not None and port <= _MAX_PORT else None


def _ip(value: Any) -> str | None:
    """A normalised IPv4 or IPv6 address (IPv6 compressed, zone index kept); None if not one."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


class _Bad(Exception):
    """Internal: a field did not read; turned into Rejected at the public boundary."""


def _need(value: Any, converted: Any, name: str) -> Any:
    if converted is None:
        raise _Bad(f"field {name!r}: {str(value)[:60]!r} is not valid")
    return converted


# --- Zeek conn.log ---------------------------------------------------------------------------

# Zeek's Conn::Info record (base/protocols/conn/main.zeek) → ECS.
_ZEEK_IPS: Final = (("id.orig_h", "source.ip"), ("id.resp_h", "destination.ip"))
_ZEEK_PORTS: Final = (("id.orig_p", "source.port"), ("id.resp_p", "destination.port"))
_ZEEK_COUNTS: Final = (
    ("orig_bytes", "source.bytes"),
    ("resp_bytes", "destination.bytes"),
    ("orig_pkts", "source.packets"),
    ("resp_pkts", "destination.packets"),
    ("missed_bytes", "zeek.connection.missed_bytes"),
)
_ZEEK_STRINGS: Final = (
    ("uid", "zeek.session_id"),
    ("conn_state", "zeek.connection.state"),
    ("history", "zeek.connection.history"),
    ("community_id", "network.community_id"),
)


def _zeek_conn(record: Mapping[str, Any], original: str) -> Doc:
    """Map one conn.log record (absent keys = unset fields) to ECS; raises _Bad."""
    doc: Doc = {}
    ts = record.get("ts")
    if ts is None:
        raise _Bad("field 'ts' is missing")
    when = _iso(ts) if isinstance(ts, str) and "T" in ts else None
    if when is None:
        seconds = _decimal(ts)
        when = _epoch(seconds) if seconds is not None else None
    doc["@timestamp"] = _rfc3339(_need(ts, when, "ts"))
    for key, path in _ZEEK_STRINGS:
        value = record.get(key)
        if value is not None:
            _put(doc, path, _need(value, value if isinstance(value, str) else None, key))
    for key, path in _ZEEK_IPS:
        if key in record:
            _put(doc, path, _need(record[key], _ip(record[key]), key))
    for key, path in _ZEEK_PORTS:
        if key in record:
            _put(doc, path, _need(record[key], _port(record[key]), key))
    for key, path in _ZEEK_COUNTS:
        if key in record:
            _put(doc, path, _need(record[key], _count(record[key]), key))
    proto = record.get("proto")
    if proto is not None:
        _put(
            doc,
            "network.transport",
            _need(proto, proto if isinstance(proto, str) else None, "proto"),
        )
    service = record.get("service")
    if service is not None:
        # `service` is a string, or a set of names where more than one analyzer matched.
        names = service if isinstance(service, list) else [service]
        if not names or not all(isinstance(n, str) for n in names):
            raise _Bad(f"field 'service': {str(service)[:60]!r} is not valid")
        _put(doc, "network.protocol", ",".join(names))
    if "duration" in record:
        seconds = _decimal(record["duration"])
        if seconds is None or seconds < 0:
            raise _Bad(f"field 'duration': {str(record['duration'])[:60]!r} is not valid")
        _put(doc, "event.duration", int(seconds * 1_000_000_000))
    for key in ("local_orig", "local_resp"):
        value = record.get(key)
        if isinstance(value, bool):
            _put(doc, f"zeek.connection.{key}", value)
    _put(doc, "event.kind", "event")
    _put(doc, "event.category", ["network"])
    _put(doc, "event.type", ["connection"])
    _put(doc, "event.dataset", "zeek.conn")
    _put(doc, "event.original", original)
    return doc


def parse_zeek_json(line: bytes | str) -> Doc | Rejected:
    """One line of a Zeek conn.log written as JSON (``LogAscii::use_json=T``)."""
    text = _text(line)
    record = _json_object(text)
    if isinstance(record, Rejected):
        return record
    if "uid" not in record or "ts" not in record:
        return Rejected("not a Zeek conn record: 'ts' or 'uid' missing")
    try:
        return _zeek_conn(record, text)
    except _Bad as e:
        return Rejected(f"Zeek conn JSON: {e}")


_ZEEK_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def _zeek_unescape(text: str) -> str:
    """Resolve Zeek's ``\\xHH`` escapes (used for the separator and non-printable bytes)."""
    if "\\x" not in text:
        return text
    return _ZEEK_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


@dataclass(slots=True)
class ZeekTSVReader:
    """Reads a Zeek ASCII log line by line, keeping the header state.

    :meth:`feed_line` returns None for header lines (``#...``) and blank lines, the ECS
    document for a data line, and :class:`Rejected` for a data line it cannot read (no
    ``#fields`` yet, wrong number of fields, a value of the wrong type, a log other than
    ``conn``). A new ``#separator`` or ``#fields`` (a rotated file appended) replaces the
    state; the reader never raises on its input.
    """

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    _seen: int = field(default=0, repr=False)

    def feed_line(self, line: bytes | str) -> Doc | Rejected | None:
        """One line of the log; see the class docstring."""
        text = _text(line)
        if not text.strip():
            return None
        if text.startswith("#"):
            self._header(text)
            return None
        if not self.fields:
            return Rejected("Zeek TSV data line before any #fields header")
        if self.path is not None and self.path != "conn":
            return Rejected(f"Zeek log path {self.path[:40]!r} is not supported (only conn)")
        values = text.split(self.separator)
        if len(values) != len(self.fields):
            return Rejected(
                f"Zeek TSV line has {len(values)} fields, #fields names {len(self.fields)}"
            )
        record: dict[str, Any] = {}
        for i, (name, raw) in enumerate(zip(self.fields, values, strict=True)):
            if raw == self.unset_field:
                continue  # unset: a literal "-" value would be written escaped (\x2d)
            kind = self.types[i] if i < len(self.types) else "string"
            container = kind.startswith(("set[", "vector[", "table["))
            if raw == self.empty_field:
                record[name] = [] if container else ""
            elif container:
                record[name] = [_zeek_unescape(v) for v in raw.split(self.set_separator)]
            else:
                record[name] = _zeek_unescape(raw)
        try:
            return _zeek_conn(record, text)
        except _Bad as e:
            return Rejected(f"Zeek conn TSV: {e}")

    def _header(self, text: str) -> None:
        if text.startswith("#separator "):
            sep = _zeek_unescape(text[len("#separator ") :])
            if sep:
                self.separator = sep
            return
        keyword, _, rest = text.partition(self.separator)
        value = _zeek_unescape(rest)
        if keyword == "#set_separator" and value:
            self.set_separator = value
        elif keyword == "#empty_field":
            self.empty_field = value
        elif keyword == "#unset_field":
            self.unset_field = value
        elif keyword == "#path":
            self.path = value
        elif keyword == "#fields":
            self.fields = tuple(rest.split(self.separator)) if rest else ()
            self.types = ()
        elif keyword == "#types":
            self.types = tuple(rest.split(self.separator))
        # #open, #close and unknown comments change nothing.


# --- Suricata EVE ----------------------------------------------------------------------------


def _json_object(text: str) -> dict[str, Any] | Rejected:
    try:
        # Decimal keeps Zeek's microsecond timestamps exact.
        value = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError):
        return Rejected("not valid JSON")
    if not isinstance(value, dict):
        return Rejected("JSON value is not an object")
    return value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _copy(doc: Doc, section: Any, pairs: tuple[tuple[str, str], ...]) -> None:
    """Copy string or integer values of `section` to ECS paths, skipping other types."""
    if not isinstance(section, dict):
        return
    for key, path in pairs:
        value = section.get(key)
        if isinstance(value, str) or _int(value) is not None:
            _put(doc, path, value)


_EVE_ALERT_ACTION: Final[Mapping[str, str]] = {"allowed": "allowed", "blocked": "denied"}
_EVE_FLOW: Final = (
    ("bytes_toserver", "source.bytes"),
    ("bytes_toclient", "destination.bytes"),
    ("pkts_toserver", "source.packets"),
    ("pkts_toclient", "destination.packets"),
    ("state", "suricata.eve.flow.state"),
    ("reason", "suricata.eve.flow.reason"),
)
_EVE_DNS: Final = (
    ("type", "dns.type"),
    ("id", "dns.id"),
    ("rrname", "dns.question.name"),
    ("rrtype", "dns.question.type"),
    ("rcode", "dns.response_code"),
)
_EVE_HTTP: Final = (
    ("hostname", "url.domain"),
    ("url", "url.original"),
    ("http_method", "http.request.method"),
    ("status", "http.response.status_code"),
    ("http_user_agent", "user_agent.original"),
    ("protocol", "http.version"),
    ("length", "http.response.body.bytes"),
)
_EVE_TLS: Final = (
    ("sni", "tls.client.server_name"),
    ("subject", "tls.server.subject"),
    ("issuerdn", "tls.server.issuer"),
)
_TLS_VERSION = re.compile(r"(TLS|SSL) ?v?([0-9.]+)\Z", re.IGNORECASE)


def parse_suricata_eve(line: bytes | str) -> Doc | Rejected:
    """One line of Suricata's EVE JSON log (``eve.json``)."""
    text = _text(line)
    record = _json_object(text)
    if isinstance(record, Rejected):
        return record
    event_type = _str(record.get("event_type"))
    timestamp = _str(record.get("timestamp"))
    if event_type is None or timestamp is None:
        return Rejected("not a Suricata EVE record: 'timestamp' or 'event_type' missing")
    when = _iso(timestamp)
    if when is None:
        return Rejected(f"Suricata EVE: timestamp {timestamp[:60]!r} is not valid")
    doc: Doc = {"@timestamp": _rfc3339(when)}
    for key, ip_path, port_key, port_path in (
        ("src_ip", "source.ip", "src_port", "source.port"),
        ("dest_ip", "destination.ip", "dest_port", "destination.port"),
    ):
        if key in record:
            ip = _ip(record[key])
            if ip is None:
                return Rejected(f"Suricata EVE: {key} {str(record[key])[:60]!r} is not an IP")
            _put(doc, ip_path, ip)
        if port_key in record:
            port = _port(record[port_key])
            if port is None:
                return Rejected(
                    f"Suricata EVE: {port_key} {str(record[port_key])[:20]!r} is not a port"
                )
            _put(doc, port_path, port)
    proto = _str(record.get("proto"))
    if proto is not None:
        _put(doc, "network.transport", proto.lower())
    app_proto = _str(record.get("app_proto"))
    if app_proto is not None:
        _put(doc, "network.protocol", app_proto.lower())
    for key in ("flow_id", "in_iface", "community_id"):
        value = record.get(key)
        if isinstance(value, str) or _int(value) is not None:
            path = "network.community_id" if key == "community_id" else f"suricata.eve.{key}"
            _put(doc, path, value)
    _put(doc, "suricata.eve.event_type", event_type)
    _copy(doc, record.get("flow"), _EVE_FLOW)
    alert = record.get("alert")
    kind = "event"
    if event_type == "alert":
        if not isinstance(alert, dict):
            return Rejected("Suricata EVE: alert event without an 'alert' object")
        kind = "alert"
        _copy(
            doc,
            alert,
            (
                ("signature", "rule.name"),
                ("signature_id", "rule.id"),
                ("category", "rule.category"),
                ("severity", "event.severity"),
                ("rev", "rule.version"),
            ),
        )
        if "rule" in doc and _int(doc["rule"].get("id")) is not None:
            doc["rule"]["id"] = str(doc["rule"]["id"])  # ECS rule.id is a keyword
        if "rule" in doc and _int(doc["rule"].get("version")) is not None:
            doc["rule"]["version"] = str(doc["rule"]["version"])
        action = _str(alert.get("action"))
        if action is not None and action in _EVE_ALERT_ACTION:
            _put(doc, "event.type", [_EVE_ALERT_ACTION[action]])
        if action is not None:
            _put(doc, "event.action", action)
    _copy(doc, record.get("dns"), _EVE_DNS)
    _copy(doc, record.get("http"), _EVE_HTTP)
    tls = record.get("tls")
    _copy(doc, tls, _EVE_TLS)
    if isinstance(tls, dict):
        version = _TLS_VERSION.match(_str(tls.get("version")) or "")
        if version is not None:
            _put(doc, "tls.version_protocol", version.group(1).lower())
            _put(doc, "tls.version", version.group(2))
        ja3 = tls.get("ja3")
        if isinstance(ja3, dict) and isinstance(ja3.get("hash"), str):
            _put(doc, "tls.client.ja3", ja3["hash"])
    _put(doc, "event.kind", kind)
    _put(
        doc,
        "event.category",
        ["network"] if kind == "event" else ["network", "intrusion_detection"],
    )
    _put(doc, "event.dataset", "suricata.eve")
    _put(doc, "event.original", text)
    return doc


# --- AWS VPC flow logs -----------------------------------------------------------------------

VPC_DEFAULT_FIELDS: Final[tuple[str, ...]] = (
    "version",
    "account-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
)
"""The default format (version 2), in order: AWS VPC User Guide, "Flow log records"."""

# Fields of later versions that a custom format may name (same guide, "Available fields").
_VPC_KNOWN_FIELDS: Final = frozenset(
    (
        *VPC_DEFAULT_FIELDS,
        "vpc-id",
        "subnet-id",
        "instance-id",
        "tcp-flags",
        "type",
        "pkt-srcaddr",
        "pkt-dstaddr",
        "region",
        "az-id",
        "sublocation-type",
        "sublocation-id",
        "pkt-src-aws-service",
        "pkt-dst-aws-service",
        "flow-direction",
        "traffic-path",
        "ecs-cluster-arn",
        "ecs-cluster-name",
        "ecs-container-instance-arn",
        "ecs-container-instance-id",
        "ecs-container-id",
        "ecs-second-container-id",
        "ecs-service-name",
        "ecs-task-definition-arn",
        "ecs-task-arn",
        "ecs-task-id",
        "reject-reason",
    )
)
_VPC_LOG_STATUS: Final = frozenset(("OK", "NODATA", "SKIPDATA"))
_VPC_ACTION: Final[Mapping[str, tuple[str, str]]] = {
    "ACCEPT": ("success", "allowed"),
    "REJECT": ("failure", "denied"),
}


def _vpc_header(text: str) -> tuple[str, ...] | None:
    """The field names of a custom-format header line; None if it is not one."""
    names = tuple(text.split())
    if names and all(n in _VPC_KNOWN_FIELDS for n in names):
        return names
    return None


def parse_vpc_flow(
    line: bytes | str, fields: tuple[str, ...] = VPC_DEFAULT_FIELDS
) -> Doc | Rejected:
    """One VPC flow log record in the format `fields` (the default version-2 format)."""
    text = _text(line)
    values = text.split()
    if len(values) != len(fields):
        return Rejected(f"VPC flow record has {len(values)} fields, the format has {len(fields)}")
    record = {name: value for name, value in zip(fields, values, strict=True) if value != "-"}
    doc: Doc = {}
    try:
        status = record.get("log-status")
        if status is not None:
            _put(
                doc,
                "aws.vpcflow.log_status",
                _need(status, status if status in _VPC_LOG_STATUS else None, "log-status"),
            )
        for key, path in (("srcaddr", "source.ip"), ("dstaddr", "destination.ip")):
            if key in record:
                _put(doc, path, _need(record[key], _ip(record[key]), key))
        for key, path in (("srcport", "source.port"), ("dstport", "destination.port")):
            if key in record:
                _put(doc, path, _need(record[key], _port(record[key]), key))
        if "protocol" in record:
            number = _need(record["protocol"], _count(record["protocol"]), "protocol")
            if number > 255:
                raise _Bad(f"field 'protocol': {number} is not an IANA protocol number")
            _put(doc, "network.iana_number", str(number))
            if number in _IANA_PROTOCOLS:
                _put(doc, "network.transport", _IANA_PROTOCOLS[number])
        for key, path in (("packets", "network.packets"), ("bytes", "network.bytes")):
            if key in record:
                _put(doc, path, _need(record[key], _count(record[key]), key))
        for key in ("start", "end"):
            if key in record:
                seconds = _count(record[key])
                when = _epoch(Decimal(seconds)) if seconds is not None else None
                _put(doc, f"event.{key}", _rfc3339(_need(record[key], when, key)))
        if "action" in record:
            outcome = _need(record["action"], _VPC_ACTION.get(record["action"]), "action")
            _put(doc, "event.outcome", outcome[0])
            _put(doc, "event.type", [outcome[1], "connection"])
            _put(doc, "event.action", record["action"].lower())
        if "version" in record:
            _need(record["version"], _count(record["version"]), "version")
    except _Bad as e:
        return Rejected(f"VPC flow record: {e}")
    if "event" in doc and "start" in doc["event"]:
        doc["@timestamp"] = doc["event"]["start"]
    if "account-id" in record:
        _put(doc, "cloud.account.id", record["account-id"])
    for key in ("region", "az-id", "instance-id", "vpc-id", "subnet-id"):
        if key in record:
            path = {
                "region": "cloud.region",
                "az-id": "cloud.availability_zone",
                "instance-id": "cloud.instance.id",
            }.get(key, f"aws.vpcflow.{key.replace('-', '_')}")
            _put(doc, path, record[key])
    _put(doc, "cloud.provider", "aws")
    handled = {
        "log-status", "srcaddr", "dstaddr", "srcport", "dstport", "protocol", "packets",
        "bytes", "start", "end", "action", "account-id", "region", "az-id", "instance-id",
        "vpc-id", "subnet-id",
    }  # fmt: skip
    for key, value in record.items():
        if key not in handled:
            _put(doc, f"aws.vpcflow.{key.replace('-', '_')}", value)
    _put(doc, "event.kind", "event")
    _put(doc, "event.category", ["network"])
    _put(doc, "event.dataset", "aws.vpcflow")
    _put(doc, "event.original", text)
    return doc


@dataclass(slots=True)
class VPCFlowReader:
    """Reads VPC flow log lines, following a custom-format header line when one comes.

    A line made only of known field names (``version account-id ...``, as at the top of S3
    objects) sets the format and returns None; blank lines return None; records return
    :func:`parse_vpc_flow`'s result in the current format (default version 2).
    """

    fields: tuple[str, ...] = VPC_DEFAULT_FIELDS

    def feed_line(self, line: bytes | str) -> Doc | Rejected | None:
        text = _text(line)
        if not text.strip():
            return None
        header = _vpc_header(text)
        if header is not None:
            self.fields = header
            return None
        return parse_vpc_flow(text, self.fields)


# --- detection -------------------------------------------------------------------------------

_ZEEK_HEADER = re.compile(
    r"#(separator |set_separator|empty_field|unset_field|path|open|close|fields|types)"
)
_ZEEK_TSV_DATA = re.compile(r"[0-9]{9,10}\.[0-9]{1,9}\t\S+\t")
_VPC_DEFAULT = re.compile(
    r"[0-9]+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ (?:[0-9]+|-) (?:[0-9]+|-) \S+ (?:OK|NODATA|SKIPDATA)\Z"
)


def detect(line: bytes | str) -> Kind | None:
    """Which boundary-log format `line` looks like; None when none (never raises).

    Zeek TSV: one of its header lines, or a data line starting with epoch seconds and a tab.
    JSON objects: ``event_type`` and ``timestamp`` make Suricata EVE, ``ts`` and ``uid``
    Zeek. VPC flow: a default-format record, or a custom-format header line.
    """
    text = _text(line)
    if _ZEEK_HEADER.match(text) or _ZEEK_TSV_DATA.match(text):
        return "zeek_tsv"
    if text.lstrip().startswith("{"):
        record = _json_object(text)
        if isinstance(record, Rejected):
            return None
        if "event_type" in record and "timestamp" in record:
            return "suricata_eve"
        if "ts" in record and "uid" in record:
            return "zeek_json"
        return None
    if _VPC_DEFAULT.match(text) or _vpc_header(text) is not None:
        return "aws_vpcflow"
    return None


def parse_line(line: bytes | str, kind: Kind | None = None) -> Doc | Rejected | None:
    """Parse one self-contained line of `kind` (detected when not given).

    Zeek TSV needs its header state, so for ``zeek_tsv`` this reads the line with a fresh
    :class:`ZeekTSVReader` (default separators, no ``#fields``): use a reader per file
    instead. Returns None for header lines, Rejected for unrecognised or bad lines.
    """
    kind = kind if kind is not None else detect(line)
    if kind is None:
        return Rejected("not a recognised boundary-log format")
    if kind == "zeek_json":
        return parse_zeek_json(line)
    if kind == "suricata_eve":
        return parse_suricata_eve(line)
    if kind == "aws_vpcflow":
        return VPCFlowReader().feed_line(line)
    return ZeekTSVReader().feed_line(line)
