"""From received bytes to canonical ECS events (pure; see docs/ingest-normalise.md).

Every receiver ends here. A syslog message (UDP datagram, RFC 6587 frame, or a line of a
followed file) is parsed (:func:`mamori.ingest.syslog.parse`), mapped to ECS
(:func:`mamori.ingest.syslog.to_ecs`) and enriched:

* where it came from: ``mamori.receiver``, ``log.source.address``, ``mamori.device``;
* what happened to its bytes: ``mamori.truncated``, ``mamori.frame_error``;
* ``event.severity`` (the syslog severity code);
* ECS fields read from the message's key=value pairs (:data:`KV_FIELDS`) and, for a few
  well-known programs, from the message text (:data:`MESSAGE_PATTERNS`).

A followed file is read line by line by a :class:`LineNormaliser` in one of the
:data:`mamori.config.TAIL_FORMATS`. Nothing is ever dropped: a line no parser can read
becomes an ``ingest.rejected`` event keeping its bytes, shaped as
:mod:`mamori.ledger.entries` shapes them.

Nothing here raises on bad input. The functions return the canonical bytes
(:func:`mamori.ledger.canonical.canonical`) the ledger stores.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING, Any, Final, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from mamori.ingest.boundary import (
    Rejected,
    VPCFlowReader,
    ZeekTSVReader,
    parse_suricata_eve,
    parse_zeek_json,
)
from mamori.ingest.errors import IngestError
from mamori.ingest.framing import Frame
from mamori.ingest.syslog import parse, to_ecs
from mamori.ledger.canonical import canonical
from mamori.ledger.entries import REJECTED_ACTION

if TYPE_CHECKING:
    from mamori.dbguard.pgaudit import PgLogReader

__all__ = [
    "KV_FIELDS",
    "MESSAGE_PATTERNS",
    "LineNormaliser",
    "MessagePattern",
    "Source",
    "SyslogBatch",
    "normalise_syslog_batch",
    "syslog_doc",
    "syslog_event",
    "zone",
]

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Source:
    """Where events came from (hashable and picklable: batches carry it to worker processes)."""

    receiver: str
    """``syslog-udp``, ``syslog-tcp``, ``syslog-tls``, ``http`` or ``tail``."""
    address: str | None
    """The peer as ``ip:port`` (IPv6 in brackets), or the file path for ``tail``."""
    device: str | None = None
    """The registered device's name, when the source is one (APP-7)."""


# --- key=value pairs → ECS -------------------------------------------------------------------

KV_FIELDS: Final[tuple[tuple[str, tuple[str, ...], str], ...]] = (
    ("user.name", ("user", "usr", "username", "suser", "duser"), "text"),
    ("source.ip", ("src", "src_ip", "srcip", "client_ip", "rhost"), "ip"),
    ("destination.ip", ("dst", "dst_ip", "dstip"), "ip"),
    ("source.port", ("spt", "sport", "src_port"), "port"),
    ("destination.port", ("dpt", "dport", "dst_port"), "port"),
    ("event.action", ("action", "act"), "text"),
    ("event.outcome", ("outcome", "result"), "outcome"),
)
"""ECS field ← message keys (exact, case-sensitive), in precedence order, and the value's kind.

The first key in a field's list whose value is valid sets the field: ``text`` is any non-empty
value, ``ip`` an IPv4 or IPv6 address (``ipaddress``; normalised), ``port`` an integer
0-65535 in ASCII digits, ``outcome`` a word of :data:`OUTCOME_WORDS`. Invalid values set
nothing (they stay in ``mamori.kv``).
"""

OUTCOME_WORDS: Final[Mapping[str, str]] = {
    **dict.fromkeys(
        ("success", "succeeded", "ok", "accept", "accepted", "allow", "allowed"), "success"
    ),
    **dict.fromkeys(
        ("fail", "failed", "failure", "denied", "deny", "reject", "rejected"), "failure"
    ),
}
"""``outcome=``/``result=`` values (compared in lower case) → ECS ``event.outcome``."""

# (parent, leaf, keys, kind): every KV_FIELDS path has two levels.
_KV_PLAN: Final[tuple[tuple[str, str, tuple[str, ...], str], ...]] = tuple(
    (path.partition(".")[0], path.partition(".")[2], keys, kind) for path, keys, kind in KV_FIELDS
)
_KV_KEYSET: Final = frozenset(key for _, keys, _ in KV_FIELDS for key in keys)

# IPv4 in the only form `ipaddress` accepts (no leading zeros, ASCII digits), which is also
# its normal form; a regex is five times cheaper than constructing an IPv4Address.
_IPV4: Final = re.compile(
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
    r"(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}\Z"
)


def _ip(value: str) -> str | None:
    """An IP address in its normal form (IPv6 compressed, zone kept); None if not one."""
    if _IPV4.match(value):
        return value
    if ":" not in value or len(value) > 64:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def _port(value: str) -> int | None:
    if len(value) <= 5 and value.isascii() and value.isdigit():
        port = int(value)
        if port <= 65535:
            return port
    return None


def _put(doc: Doc, path: str, value: Any) -> None:
    """Set a dotted path, replacing a non-object in the way (ours to shape, syslog docs only)."""
    *parents, leaf = path.split(".")
    node = doc
    for name in parents:
        child = node.get(name)
        if type(child) is not dict:
            child = node[name] = {}
        node = child
    node[leaf] = value


def _apply_kv(doc: Doc, kv: Mapping[str, str]) -> None:
    hits = _KV_KEYSET.intersection(kv)
    if not hits:
        return
    for parent, leaf, keys, kind in _KV_PLAN:
        for key in keys:
            if key not in hits:
                continue
            value = kv[key]
            converted: str | int | None
            if not value:
                continue
            if kind == "text":
                converted = value
            elif kind == "ip":
                converted = _ip(value)
            elif kind == "port":
                converted = _port(value)
            else:
                converted = OUTCOME_WORDS.get(value.lower())
            if converted is not None:
                node = doc.get(parent)
                if type(node) is not dict:
                    node = doc[parent] = {}
                node[leaf] = converted
                break


# --- well-known messages → ECS ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessagePattern:
    """A message a program is known to write, and what it means in ECS.

    The regex is matched (anchored) against the message of the program's events only. Its
    named groups set fields: ``user`` → ``user.name``, ``target`` → ``user.effective.name``,
    ``ip`` → ``source.ip`` (when an IP), ``port`` → ``source.port``, ``command`` →
    ``process.command_line``, ``outcome`` → ``event.outcome`` through :data:`PATTERN_OUTCOMES`,
    and ``reason`` → ``event.reason`` (a reason means the outcome is ``failure``). Empty
    groups set nothing.
    """

    regex: re.Pattern[str]
    action: str
    """``event.action``."""
    category: str = "authentication"
    """The single ``event.category``."""
    outcome: str | None = None
    """``event.outcome`` when no ``outcome`` or ``reason`` group says otherwise."""
    type: str | None = None
    """The single ``event.type``, when one applies."""


PATTERN_OUTCOMES: Final[Mapping[str, str]] = {
    "Accepted": "success",
    "Failed": "failure",
    "FAILED SU": "failure",
    "+": "success",
    "-": "failure",
}
"""Words of ``outcome`` groups → ``event.outcome``."""

_GROUP_FIELDS: Final = (
    ("user", "user.name"),
    ("target", "user.effective.name"),
    ("ip", "source.ip"),
    ("port", "source.port"),
    ("command", "process.command_line"),
    ("reason", "event.reason"),
)

# OpenSSH's sshd (auth2.c, auth.c, packet.c) and sshd-session (OpenSSH 9.8+): the address is
# followed by "port N" since OpenSSH 5.x; older lines end at the address.
_SSH_END = r"(?: ssh2(?:[: ].*)?)?(?: \[preauth\])?$"
_SSHD: Final = (
    MessagePattern(
        re.compile(
            r"(?P<outcome>Accepted|Failed) \S+ for (?:invalid user )?(?P<user>.*?)"
            r" from (?P<ip>\S+) port (?P<port>\d+)" + _SSH_END
        ),
        "ssh_login",
    ),
    MessagePattern(
        re.compile(
            r"Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?" + _SSH_END
        ),
        "ssh_invalid_user",
        outcome="failure",
    ),
    MessagePattern(
        re.compile(
            r"(?:Connection closed by|Disconnected from)"
            r" (?:(?:authenticating |invalid )?user (?P<user>\S*) )?"
            r"(?P<ip>\S+)(?: port (?P<port>\d+))?" + _SSH_END
        ),
        "ssh_disconnected",
        type="end",
    ),
)
# Linux-PAM's pam_unix (modules/pam_unix/support.c, pam_unix_sess.c): "authentication
# failure; logname=%s uid=%d euid=%d tty=%s ruser=%s rhost=%s  user=%s".
_PAM_UNIX: Final = (
    MessagePattern(
        re.compile(
            r"authentication failure;(?:.*?\srhost=(?P<ip>\S+))?(?:.*?\suser=(?P<user>\S+))?"
        ),
        "authentication_failure",
        outcome="failure",
    ),
    MessagePattern(
        re.compile(r"session opened for user (?P<user>[^\s(]+)"),
        "session_opened",
        category="session",
        type="start",
    ),
    MessagePattern(
        re.compile(r"session closed for user (?P<user>[^\s(]+)"),
        "session_closed",
        category="session",
        type="end",
    ),
)
# sudo (plugins/sudoers/logging.c): "user : [reason ; ]TTY=tty ; PWD=dir ; USER=target ;
# [GROUP=g ; ][ENV=... ; ]COMMAND=cmd"; a reason ("3 incorrect password attempts", "user
# NOT in sudoers", "command not allowed") means sudo refused.
_SUDO: Final = (
    MessagePattern(
        re.compile(
            r"\s*(?P<user>\S+) : (?:(?P<reason>[^;=]*?) ; )?(?:TTY=\S* ; )?PWD=.*? ; "
            r"USER=(?P<target>\S+) ; (?:[A-Z]+=.*? ; )*COMMAND=(?P<command>.*)$"
        ),
        "sudo",
        outcome="success",
    ),
)
# su from shadow-utils (src/su.c: "(to root) alice on pts/0", "FAILED SU (to root) ...",
# older "Successful su for root by alice" and "+ pts/0 alice:root") and util-linux.
_SU: Final = (
    MessagePattern(
        re.compile(r"(?:(?P<outcome>FAILED SU) )?\(to (?P<target>\S+)\) (?P<user>\S+) on \S+$"),
        "su",
        outcome="success",
    ),
    MessagePattern(
        re.compile(r"Successful su for (?P<target>\S+) by (?P<user>\S+)$"),
        "su",
        outcome="success",
    ),
    MessagePattern(
        re.compile(r"FAILED su for (?P<target>\S+) by (?P<user>\S+)$"),
        "su",
        outcome="failure",
    ),
    MessagePattern(re.compile(r"(?P<outcome>[+-]) \S+ (?P<user>[^\s:]+):(?P<target>\S+)$"), "su"),
)

MESSAGE_PATTERNS: Final[Mapping[str, tuple[MessagePattern, ...]]] = {
    "sshd": _SSHD,
    "sshd-session": _SSHD,
    "sudo": _SUDO,
    "su": _SU,
    "pam_unix": _PAM_UNIX,
}
"""Program (syslog APP-NAME / TAG) → its patterns, tried in order; the first match counts.

``pam_unix`` stands for messages of the PAM module whatever program loaded it: those whose
program is written ``prog(pam_unix)`` (older Linux) and those whose message starts
``pam_unix(prog:facility): `` (the prefix is not part of what the patterns see).
"""

_PAM_PREFIX: Final = re.compile(r"pam_unix\([^)\s]*\): ")


def _apply_patterns(doc: Doc, app: str, message: str) -> None:
    patterns: tuple[MessagePattern, ...]
    if message.startswith("pam_unix("):
        prefix = _PAM_PREFIX.match(message)
        if prefix is None:
            return
        patterns = _PAM_UNIX
        message = message[prefix.end() :]
    elif app.endswith("(pam_unix)"):
        patterns = _PAM_UNIX
    else:
        found = MESSAGE_PATTERNS.get(app)
        if found is None:
            return
        patterns = found
    for pattern in patterns:
        m = pattern.regex.match(message)
        if m is not None:
            _apply_match(doc, pattern, m)
            return


def _apply_match(doc: Doc, pattern: MessagePattern, m: re.Match[str]) -> None:
    groups = m.groupdict()
    outcome = pattern.outcome
    word = groups.get("outcome")
    if word is not None:
        outcome = PATTERN_OUTCOMES.get(word, outcome)
    if groups.get("reason"):
        outcome = "failure"
    for group, path in _GROUP_FIELDS:
        value = groups.get(group)
        if not value:
            continue
        converted: str | int | None = value
        if group == "ip":
            converted = _ip(value)
        elif group == "port":
            converted = _port(value)
        if converted is not None:
            _put(doc, path, converted)
    event = doc["event"]
    event["action"] = pattern.action
    event["category"] = [pattern.category]
    if pattern.type is not None:
        event["type"] = [pattern.type]
    if outcome is not None:
        event["outcome"] = outcome


# --- syslog ----------------------------------------------------------------------------------


def syslog_doc(
    data: bytes,
    source: Source,
    received: datetime,
    tz: tzinfo,
    *,
    truncated_from: int | None = None,
    frame_error: str | None = None,
) -> Doc:
    """The enriched ECS document of one syslog message (see the module docstring)."""
    msg = parse(data, received=received, default_tz=tz)
    doc = to_ecs(msg, received=received)
    doc["event"]["severity"] = msg.severity
    if source.address is not None:
        doc["log"]["source"] = {"address": source.address}
    mamori = doc["mamori"]
    mamori["receiver"] = source.receiver
    if source.device is not None:
        mamori["device"] = source.device
    if truncated_from is not None:
        mamori["truncated"] = {"original_bytes": truncated_from}
    if frame_error is not None:
        mamori["frame_error"] = frame_error
    kv = mamori.get("kv")
    if kv is not None:
        _apply_kv(doc, kv)
    if msg.app_name is not None:
        _apply_patterns(doc, msg.app_name, msg.message)
    return doc


_SORT: Final = orjson.OPT_SORT_KEYS


def _syslog_bytes(doc: Doc) -> bytes:
    # A syslog document holds no float and only ASCII member names (fixed names, SD names,
    # which RFC 5424 §6.3.2 keeps to printable ASCII, and key=value keys, ASCII by the rule),
    # which is when orjson's sorted output is RFC 8785 (see mamori.ledger.canonical); a test
    # checks the two agree. A pid beyond 64 bits makes orjson refuse: canonical() writes it.
    try:
        return orjson.dumps(doc, option=_SORT)
    except TypeError:
        return canonical(doc)


def syslog_event(
    data: bytes,
    source: Source,
    received: datetime,
    tz: tzinfo,
    *,
    truncated_from: int | None = None,
    frame_error: str | None = None,
) -> bytes:
    """The canonical event bytes of one syslog message; never raises on bad input.

    `received` (aware) fixes the year of RFC 3164 timestamps and is ``@timestamp`` when the
    message has none; `tz` is the zone of timestamps written without one. `truncated_from`
    is the message's full length when `data` is the kept prefix; `frame_error` is what the
    framing found wrong (:attr:`mamori.ingest.framing.Frame.error`).
    """
    return _syslog_bytes(
        syslog_doc(
            data, source, received, tz, truncated_from=truncated_from, frame_error=frame_error
        )
    )


# --- batches for worker processes ------------------------------------------------------------


class SyslogBatch(NamedTuple):
    """Frames to normalise in a worker process (picklable)."""

    frames: list[Frame]
    source_ids: list[int]
    """For each frame, its source's index in `sources`."""
    sources: list[Source]
    received_us: int
    """When the batch was received: microseconds since the epoch (UTC)."""
    timezone: str
    """``[syslog] timezone``: ``"local"`` or an IANA name."""


_ZONES: dict[str, tzinfo] = {}


def _local_zone() -> tzinfo:
    """This machine's zone, with its DST rules when they can be found."""
    tz_env = os.environ.get("TZ")
    if tz_env:
        try:
            return ZoneInfo(tz_env.removeprefix(":"))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass  # a POSIX TZ string such as "JST-9": the C library's offset below
    else:
        try:
            with open("/etc/localtime", "rb") as f:  # noqa: PTH123 - ZoneInfo wants a file
                return ZoneInfo.from_file(f, key="localtime")
        except (OSError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


def zone(name: str) -> tzinfo:
    """The zone ``[syslog] timezone`` names (cached per process).

    ``"local"`` is this machine's zone (``TZ``, else ``/etc/localtime``), with its DST rules;
    raises :class:`IngestError` for an unknown name.
    """
    tz = _ZONES.get(name)
    if tz is None:
        if name == "local":
            tz = _local_zone()
        else:
            try:
                tz = ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError) as e:
                raise IngestError(
                    f"time zone {name!r} is not known",
                    hint='use "local", "UTC" or an IANA name such as "Asia/Tokyo"',
                ) from e
        _ZONES[name] = tz
    return tz


def _received(received_us: int) -> datetime:
    seconds, micros = divmod(received_us, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


def normalise_syslog_batch(batch: SyslogBatch) -> list[bytes]:
    """One canonical event per frame, in order; never raises (runs in worker processes).

    A frame that would make normalisation fail (a bug, not bad input: parsers do not raise)
    is still kept, as an ``ingest.rejected`` event holding its bytes.
    """
    received = _received(batch.received_us)
    try:
        tz = zone(batch.timezone)
    except IngestError:
        tz = UTC  # the configuration is validated; keep the events whatever happens
    sources = batch.sources
    out: list[bytes] = []
    for frame, sid in zip(batch.frames, batch.source_ids, strict=True):
        source = sources[sid]
        try:
            out.append(
                syslog_event(
                    frame.data,
                    source,
                    received,
                    tz,
                    truncated_from=frame.truncated_from,
                    frame_error=frame.error,
                )
            )
        except Exception as e:  # never lose a message to a bug
            doc = _rejected_doc(
                frame.data,
                f"normalisation failed ({type(e).__name__}: {str(e)[:200]})",
                truncated_from=frame.truncated_from,
            )
            _stamp(doc, source)
            out.append(canonical(doc))
    return out


# --- followed files --------------------------------------------------------------------------


def _rejected_doc(raw: bytes, reason: str, *, truncated_from: int | None = None) -> Doc:
    """An ``ingest.rejected`` event keeping `raw`, shaped as mamori.ledger.entries does."""
    info: Doc = {"raw": base64.b64encode(raw).decode("ascii"), "raw_bytes": len(raw)}
    if truncated_from is not None:
        info["truncated"] = True
        info["original_bytes"] = truncated_from
    return {
        "event": {"action": REJECTED_ACTION, "kind": "pipeline_error", "dataset": "mamori.ingest"},
        "error": {"message": reason},
        "message": raw[:4096].decode("utf-8", errors="replace"),
        "mamori": {"ingest": info},
    }


def _stamp(doc: Doc, source: Source, path: str | None = None) -> None:
    """Add ``mamori.receiver`` (and ``mamori.device``) and ``log.file.path``.

    ``mamori`` is ours: a sender's non-object ``mamori`` is replaced. ``log.file.path`` never
    overwrites a sender's value: when ``log``/``log.file`` is not an object or already has a
    path, the path goes to ``mamori.tail.path`` instead.
    """
    mamori = doc.get("mamori")
    if type(mamori) is not dict:
        mamori = doc["mamori"] = {}
    mamori["receiver"] = source.receiver
    if source.device is not None:
        mamori["device"] = source.device
    if path is None:
        return
    log = doc.setdefault("log", {})
    if type(log) is dict:
        file = log.setdefault("file", {})
        if type(file) is dict and "path" not in file:
            file["path"] = path
            return
    mamori["tail"] = {"path": path}


def _rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_BOUNDARY_FORMATS: Final = ("zeek", "suricata", "vpcflow")
_PGLOG_FORMATS: Final = ("pglog-csv", "pglog-json")
_JSON_TYPES: Final[Mapping[type, str]] = {
    list: "array",
    str: "string",
    bool: "boolean",
    type(None): "null",
    int: "number",
    float: "number",
}


class LineNormaliser:
    """Turns the lines of one followed file into canonical events, keeping header state.

    Formats (:data:`mamori.config.TAIL_FORMATS`): ``syslog`` (as :func:`syslog_event`),
    ``json`` (one object per line, kept as sent), ``text`` (the line as ``message``),
    ``zeek`` (conn.log, TSV with ``#`` headers or JSON lines), ``suricata`` (EVE JSON),
    ``vpcflow`` (AWS VPC flow logs), ``pglog-csv``/``pglog-json`` (PostgreSQL csvlog/jsonlog,
    pgaudit entries as statement events: :mod:`mamori.dbguard.pgaudit`). Every event gets
    ``log.file.path`` and ``mamori.receiver`` ``"tail"``; a line its format cannot read is
    kept as an ``ingest.rejected`` event.
    """

    def __init__(self, fmt: str, source: Source, tz: tzinfo) -> None:
        if fmt not in ("syslog", "json", "text", *_BOUNDARY_FORMATS, *_PGLOG_FORMATS):
            raise IngestError(
                f"tail format {fmt!r} is not known",
                hint="use syslog, json, zeek, suricata, vpcflow, pglog-csv, pglog-json or text",
            )
        self.fmt = fmt
        self.source = source
        self.tz = tz
        self.path = source.address or ""
        self._zeek = ZeekTSVReader()
        self._vpc = VPCFlowReader()
        self._pglog: PgLogReader | None = None
        if fmt in _PGLOG_FORMATS:
            from mamori.dbguard.pgaudit import PgLogReader  # loads pglast only when used

            self._pglog = PgLogReader(fmt, tz)

    @property
    def held_bytes(self) -> int:
        """Bytes of the lines given but not yet turned into an event (a csvlog record that
        goes on): a tail stores its position this far back, so a restart reads them again."""
        return self._pglog.held_bytes if self._pglog is not None else 0

    def reset(self) -> None:
        """Forget header state: the next line starts another file."""
        self._zeek = ZeekTSVReader()
        self._vpc = VPCFlowReader()
        if self._pglog is not None:
            self._pglog.reset()

    def prime(self, lines: Iterable[bytes]) -> None:
        """Read the leading lines of a file entered mid-way, for their headers only."""
        if self.fmt == "zeek":
            for line in lines:
                if line.startswith(b"#"):
                    self._zeek.feed_line(line)
        elif self.fmt == "vpcflow":
            for line in lines:
                self._vpc.feed_line(line)

    def event(
        self, line: bytes, received: datetime, *, truncated_from: int | None = None
    ) -> bytes | None:
        """The canonical event of one line (without its newline); None for blank lines and
        for headers (Zeek ``#`` lines, a VPC flow log's field-name line). Never raises."""
        if not line.strip():
            return None
        fmt = self.fmt
        if fmt == "syslog":
            doc = syslog_doc(line, self.source, received, self.tz, truncated_from=truncated_from)
            doc["log"]["file"] = {"path": self.path}
            return _syslog_bytes(doc)
        if fmt == "json":
            return canonical(self._json(line, truncated_from))
        if fmt == "text":
            doc = {
                "@timestamp": _rfc3339(received),
                "message": line.decode("utf-8", "replace").rstrip("\r"),
                "event": {"original": line.decode("utf-8", "backslashreplace")},
            }
            if truncated_from is not None:
                doc["mamori"] = {"truncated": {"original_bytes": truncated_from}}
            _stamp(doc, self.source, self.path)
            return canonical(doc)
        result: Doc | Rejected | None
        if fmt == "zeek":
            if line.lstrip()[:1] == b"{":
                result = parse_zeek_json(line)
            else:
                result = self._zeek.feed_line(line)
        elif fmt == "suricata":
            result = parse_suricata_eve(line)
        elif self._pglog is not None:  # csvlog records may span lines: raw is the whole record
            line, result = self._pglog.feed(line, received, truncated_from)
        else:
            result = self._vpc.feed_line(line)
        if result is None:
            return None
        if isinstance(result, Rejected):
            doc = _rejected_doc(line, result.reason, truncated_from=truncated_from)
        else:
            doc = result
            if truncated_from is not None:
                doc["mamori"] = {"truncated": {"original_bytes": truncated_from}}
        _stamp(doc, self.source, self.path)
        return canonical(doc)

    def _json(self, line: bytes, truncated_from: int | None) -> Doc:
        if truncated_from is not None:
            doc = _rejected_doc(
                line,
                f"line of {truncated_from} bytes exceeds the size limit; kept truncated",
                truncated_from=truncated_from,
            )
        else:
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                try:
                    line.decode("utf-8")
                    reason = f"not valid JSON ({e})"
                except UnicodeDecodeError:
                    reason = "not valid UTF-8"
                doc = _rejected_doc(line, reason)
            else:
                if type(value) is dict:
                    doc = value
                else:
                    doc = _rejected_doc(line, f"a JSON {_JSON_TYPES[type(value)]}, not an object")
        _stamp(doc, self.source, self.path)
        return doc
