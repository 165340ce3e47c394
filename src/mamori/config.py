"""mamori's configuration: one TOML file in the home, every default written out and explained.

`mamori init` writes :data:`TEMPLATE` with the log's origin filled in. :func:`load` reads it back
and checks every value, naming the key and the fix when one is wrong. A key missing from the
file takes its default, so a config written by an older mamori keeps working.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mamori.alerts import settings as alerts_settings
from mamori.configcheck import ConfigError as ConfigError
from mamori.configcheck import boolean as _bool
from mamori.configcheck import integer as _int
from mamori.configcheck import no_extra as _no_extra
from mamori.configcheck import section as _section
from mamori.configcheck import string as _str
from mamori.dbguard import settings as dbguard_settings
from mamori.detect import settings as detect_settings
from mamori.incidents import settings as incidents_settings
from mamori.notify import settings as notify_settings
from mamori.vuln import settings as vuln_settings

CONFIG_NAME = "mamori.toml"
MIN_RETENTION_DAYS = 365
"""CLD-6: access trails are kept at least one year, whatever the configuration says."""


TEMPLATE = """\
# mamori configuration. Every setting is written out with its default value.
# Changes take effect the next time a mamori command or service starts.

[ledger]
# The log's origin: the first line of every checkpoint and the name of the signing key.
# Witnesses remember checkpoints by origin, so never change it once the ledger is in use.
origin = "{origin}"
# Group commit: a batch is made durable (one transaction, fsync) when it holds this many events
# or when its first event has waited this many milliseconds, whichever comes first. Every
# commit is followed by a signed checkpoint, so checkpoints come at least once a second while
# events arrive.
batch_max_events = 8192
batch_max_delay_ms = 1000
# Events larger than this (bytes, as received) are kept truncated, flagged `truncated`,
# never dropped.
max_event_bytes = 1048576

[retention]
# Event bodies older than the retention period may be pruned by `mamori ledger retention run`.
# Leaf hashes are kept forever, so the tree and every proof stay valid (SEC-5, CLD-6).
# The period is: from the contract end date plus `margin_days`, or, while no contract end is
# set, `days` after each event was received. It is never shorter than 365 days.
contract_end = ""          # "YYYY-MM-DD", empty while unknown
margin_days = 365
days = 1825
# Legal hold: while true, nothing is pruned, whatever its age.
legal_hold = false

[search]
# Rows returned by `mamori ledger search` when --limit is not given.
default_limit = 100

# ---- `mamori up`: the collection service -------------------------------------------------
# Every receiver listens on `host`: "127.0.0.1" accepts senders on this machine only; set
# "0.0.0.0" (or "::") to accept them from the network. Port 0 picks a free port (the service
# writes the ports it chose to HOME/run/listen.json).

[syslog]
host = "127.0.0.1"
udp = true
tcp = true
port = 5514                # UDP and TCP, RFC 5424 and RFC 3164, RFC 6587 framing on TCP
tls = true
tls_port = 6514            # RFC 5425, with the certificate in [tls]
# Longer messages are kept truncated and flagged, never dropped.
max_message_bytes = 65536
# A TCP or TLS connection that sends nothing for this long is closed.
idle_timeout_s = 300
# The zone of RFC 3164 timestamps, which carry none: "local" (this machine's) or a name
# such as "Asia/Tokyo" or "UTC".
timezone = "local"

[http]
# HTTPS: POST /api/v1/events (bearer token, scope ingest) and GET /metrics (scope metrics).
enabled = true
host = "127.0.0.1"
port = 8443
# Larger request bodies (after gzip decoding) are answered 413.
max_body_bytes = 16777216

[tls]
# Server certificate and key for syslog over TLS and HTTPS; relative paths are in the home.
# `mamori init` writes a self-signed pair here for the embedded default.
cert = "tls/server.crt"
key = "tls/server.key"
# PEM file of the CAs whose client certificates are accepted; "" accepts any client
# certificate, then checked against the device registry by fingerprint.
client_ca = ""
# Require a client certificate on syslog over TLS (mutual TLS, APP-7).
require_client_cert = false

[devices]
# APP-7: when true, TLS connections without the certificate of a registered device are refused,
# and TCP connections, HTTP requests and UDP datagrams from addresses no registered device
# covers are refused too. Either way, an unknown source is recorded as `device.unregistered`.
require_registered = false

[spool]
# Where events go while the ledger's storage cannot take them (full disk, read-only, locked,
# gone); ideally another volume. Relative paths are in the home.
path = "spool"
max_bytes = 1073741824
# When the spool is full too: "block" stops reading TCP, TLS and HTTP so senders buffer;
# "reject" answers HTTP 503 and closes syslog connections. UDP is dropped and counted.
policy = "block"

[ingest]
# Events waiting for the ledger writer; beyond this, receivers stop reading (back-pressure).
queue_events = 65536
# Processes normalising messages to ECS: 0 picks one per CPU.
workers = 0

[calendar]
# The business calendar of detection rules about "outside business hours" (DB-3): the zone,
# the hours on Monday to Friday, the year-end closure (first and last day, inclusive; [] for
# none), and days to add as holidays or as working days. Japanese public holidays (incl.
# substitute and citizens' holidays) come from the `holidays` package.
timezone = "Asia/Tokyo"
business_hours = ["09:00", "18:00"]
year_end_closure = ["12-29", "01-03"]
extra_holidays = []        # e.g. ["2026-08-14"]
extra_workdays = []

# Files to follow, through rotation and truncation; the position is kept in the ledger, so a
# restart neither loses nor repeats a line. One [[tail]] table per file, e.g.:
# [[tail]]
# path = "/var/log/auth.log"
# format = "syslog"        # syslog | json | zeek | suricata | vpcflow | text
"""
TEMPLATE += (
    detect_settings.TEMPLATE
    + alerts_settings.TEMPLATE
    + notify_settings.TEMPLATE
    + incidents_settings.TEMPLATE
    + dbguard_settings.TEMPLATE
    + vuln_settings.TEMPLATE
)


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """The `[ledger]` section."""

    origin: str
    batch_max_events: int = 8192
    batch_max_delay_ms: int = 1000
    max_event_bytes: int = 1_048_576


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """The `[retention]` section."""

    contract_end: dt.date | None = None
    margin_days: int = 365
    days: int = 1825
    legal_hold: bool = False


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """The `[search]` section."""

    default_limit: int = 100


@dataclass(frozen=True, slots=True)
class SyslogConfig:
    """The `[syslog]` section."""

    host: str = "127.0.0.1"
    udp: bool = True
    tcp: bool = True
    port: int = 5514
    tls: bool = True
    tls_port: int = 6514
    max_message_bytes: int = 65536
    idle_timeout_s: int = 300
    timezone: str = "local"


@dataclass(frozen=True, slots=True)
class HttpConfig:
    """The `[http]` section."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8443
    max_body_bytes: int = 16 << 20


@dataclass(frozen=True, slots=True)
class TlsConfig:
    """The `[tls]` section (paths as written; relative ones are in the home)."""

    cert: str = "tls/server.crt"
    key: str = "tls/server.key"
    client_ca: str = ""
    require_client_cert: bool = False


@dataclass(frozen=True, slots=True)
class DevicesConfig:
    """The `[devices]` section."""

    require_registered: bool = False


SPOOL_POLICIES = ("block", "reject")


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """The `[spool]` section."""

    path: str = "spool"
    max_bytes: int = 1 << 30
    policy: str = "block"


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """The `[ingest]` section."""

    queue_events: int = 65536
    workers: int = 0


@dataclass(frozen=True, slots=True)
class CalendarConfig:
    """The `[calendar]` section (checked here; mamori.detect.calendar builds the calendar)."""

    timezone: str = "Asia/Tokyo"
    business_hours: tuple[dt.time, dt.time] = (dt.time(9, 0), dt.time(18, 0))
    year_end_closure: tuple[tuple[int, int], tuple[int, int]] | None = ((12, 29), (1, 3))
    extra_holidays: tuple[dt.date, ...] = ()
    extra_workdays: tuple[dt.date, ...] = ()


TAIL_FORMATS = ("syslog", "json", "zeek", "suricata", "vpcflow", "text", "pglog-csv", "pglog-json")


@dataclass(frozen=True, slots=True)
class TailConfig:
    """One `[[tail]]` table: a file to follow."""

    path: str
    format: str = "syslog"


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    ledger: LedgerConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    syslog: SyslogConfig = field(default_factory=SyslogConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)
    devices: DevicesConfig = field(default_factory=DevicesConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    tail: tuple[TailConfig, ...] = ()
    calendar: CalendarConfig = field(default_factory=CalendarConfig)
    detect: detect_settings.DetectConfig = field(default_factory=detect_settings.DetectConfig)
    alerts: alerts_settings.AlertsConfig = field(default_factory=alerts_settings.AlertsConfig)
    notify: notify_settings.NotifyConfig = field(default_factory=notify_settings.NotifyConfig)
    incidents: incidents_settings.IncidentsConfig = field(
        default_factory=incidents_settings.IncidentsConfig
    )
    dbguard: tuple[dbguard_settings.DbGuardConfig, ...] = ()
    vuln: vuln_settings.VulnConfig = field(default_factory=vuln_settings.VulnConfig)


def render(origin: str) -> str:
    """The config file text for a new home."""
    if '"' in origin or "\\" in origin or "\n" in origin:
        raise ConfigError(f"the origin {origin!r} contains a quote, backslash or newline")
    return TEMPLATE.replace("{origin}", origin, 1)


def load(path: Path) -> Config:
    """Read and check the config file at `path`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(
            f"no configuration file at {path}",
            hint="run `mamori init --home DIR` to create a home, or point --home at one",
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", hint="fix the line it names") from e
    return parse(raw, where=str(path))


def parse(raw: dict[str, Any], *, where: str = "config") -> Config:
    """Check a parsed config mapping and build the typed :class:`Config`."""
    known = {
        "ledger",
        "retention",
        "search",
        "syslog",
        "http",
        "tls",
        "devices",
        "spool",
        "ingest",
        "tail",
        "calendar",
        *detect_settings.SECTIONS,
        *alerts_settings.SECTIONS,
        *notify_settings.SECTIONS,
        *incidents_settings.SECTIONS,
        *dbguard_settings.SECTIONS,
        *vuln_settings.SECTIONS,
    }
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown section [{key}]", hint=f"use one of {sorted(known)}"
            )
    led = _section(raw, "ledger", where)
    origin = led.get("origin")
    if not isinstance(origin, str) or not origin or any(c.isspace() for c in origin):
        raise ConfigError(
            f"{where}: [ledger] origin must be a non-empty string without spaces",
            hint="restore the origin printed by `mamori init`",
        )
    ledger = LedgerConfig(
        origin=origin,
        batch_max_events=_int(led, "ledger", "batch_max_events", 8192, 1, 1_000_000, where),
        batch_max_delay_ms=_int(led, "ledger", "batch_max_delay_ms", 1000, 1, 1000, where),
        max_event_bytes=_int(led, "ledger", "max_event_bytes", 1_048_576, 1024, 64 << 20, where),
    )
    _no_extra(
        led,
        "ledger",
        {"origin", "batch_max_events", "batch_max_delay_ms", "max_event_bytes"},
        where,
    )
    ret = _section(raw, "retention", where)
    end_raw = ret.get("contract_end", "")
    contract_end: dt.date | None
    if isinstance(end_raw, dt.date) and not isinstance(end_raw, dt.datetime):
        contract_end = end_raw
    elif end_raw == "":
        contract_end = None
    elif isinstance(end_raw, str):
        try:
            contract_end = dt.date.fromisoformat(end_raw)
        except ValueError as e:
            raise ConfigError(
                f"{where}: [retention] contract_end {end_raw!r} is not a date",
                hint='write it as "YYYY-MM-DD", or "" while unknown',
            ) from e
    else:
        raise ConfigError(f"{where}: [retention] contract_end must be a date string")
    hold = ret.get("legal_hold", False)
    if not isinstance(hold, bool):
        raise ConfigError(f"{where}: [retention] legal_hold must be true or false")
    retention = RetentionConfig(
        contract_end=contract_end,
        margin_days=_int(ret, "retention", "margin_days", 365, 0, 36_500, where),
        days=_int(ret, "retention", "days", 1825, MIN_RETENTION_DAYS, 36_500, where),
        legal_hold=hold,
    )
    _no_extra(ret, "retention", {"contract_end", "margin_days", "days", "legal_hold"}, where)
    se = _section(raw, "search", where)
    search = SearchConfig(
        default_limit=_int(se, "search", "default_limit", 100, 1, 100_000, where),
    )
    _no_extra(se, "search", {"default_limit"}, where)
    return Config(
        ledger=ledger,
        retention=retention,
        search=search,
        syslog=_syslog(_section(raw, "syslog", where), where),
        http=_http(_section(raw, "http", where), where),
        tls=_tls(_section(raw, "tls", where), where),
        devices=_devices(_section(raw, "devices", where), where),
        spool=_spool(_section(raw, "spool", where), where),
        ingest=_ingest(_section(raw, "ingest", where), where),
        tail=_tails(raw.get("tail", []), where),
        calendar=_calendar(_section(raw, "calendar", where), where),
        detect=detect_settings.parse(raw, where),
        alerts=alerts_settings.parse(raw, where),
        notify=notify_settings.parse(raw, where),
        incidents=incidents_settings.parse(raw, where),
        dbguard=dbguard_settings.parse(raw, where),
        vuln=vuln_settings.parse(raw, where),
    )


def _calendar(sec: dict[str, Any], where: str) -> CalendarConfig:
    d = CalendarConfig()
    _no_extra(sec, "calendar", set(CalendarConfig.__slots__), where)
    tz = _str(sec, "calendar", "timezone", d.timezone, where)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as e:
        raise ConfigError(
            f"{where}: [calendar] timezone {tz!r} is not a known time zone",
            hint='use an IANA name such as "Asia/Tokyo"',
        ) from e
    hours_raw = sec.get("business_hours", ["09:00", "18:00"])
    hours: list[dt.time] = []
    if isinstance(hours_raw, list) and len(hours_raw) == 2:
        for h in hours_raw:
            try:
                hours.append(dt.time.fromisoformat(h) if isinstance(h, str) else h)
            except ValueError:
                break
    if (
        len(hours) != 2
        or not all(isinstance(h, dt.time) for h in hours)
        or hours[0] >= hours[1]
        or any(h.second or h.microsecond or h.tzinfo for h in hours)
    ):
        raise ConfigError(
            f"{where}: [calendar] business_hours = {hours_raw!r} is not a start and an end time",
            hint='write it as ["09:00", "18:00"]: hours and minutes, start before end',
        )
    closure_raw = sec.get("year_end_closure", ["12-29", "01-03"])
    closure: tuple[tuple[int, int], tuple[int, int]] | None = None
    if closure_raw != []:
        days: list[tuple[int, int]] = []
        if isinstance(closure_raw, list) and len(closure_raw) == 2:
            for text in closure_raw:
                try:
                    month, day = (int(x) for x in str(text).split("-"))
                    dt.date(2024, month, day)  # a leap year: 02-29 is a day
                except ValueError:
                    break
                days.append((month, day))
        if len(days) != 2:
            raise ConfigError(
                f"{where}: [calendar] year_end_closure = {closure_raw!r} is not two month-days",
                hint='write it as ["12-29", "01-03"], or [] for no closure',
            )
        closure = (days[0], days[1])
    return CalendarConfig(
        timezone=tz,
        business_hours=(hours[0], hours[1]),
        year_end_closure=closure,
        extra_holidays=_dates(sec, "extra_holidays", where),
        extra_workdays=_dates(sec, "extra_workdays", where),
    )


def _dates(sec: dict[str, Any], key: str, where: str) -> tuple[dt.date, ...]:
    raw = sec.get(key, [])
    out: list[dt.date] = []
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, dt.date) and not isinstance(item, dt.datetime):
                out.append(item)
                continue
            try:
                out.append(dt.date.fromisoformat(str(item)))
            except ValueError:
                break
        else:
            return tuple(out)
    raise ConfigError(
        f"{where}: [calendar] {key} = {raw!r} is not a list of dates",
        hint='write it as ["2026-08-14", "2026-08-17"]',
    )


def _syslog(sec: dict[str, Any], where: str) -> SyslogConfig:
    d = SyslogConfig()
    _no_extra(sec, "syslog", set(SyslogConfig.__slots__), where)
    tz = _str(sec, "syslog", "timezone", d.timezone, where)
    if tz != "local":
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ConfigError(
                f"{where}: [syslog] timezone {tz!r} is not a known time zone",
                hint='use "local", "UTC" or an IANA name such as "Asia/Tokyo"',
            ) from e
    return SyslogConfig(
        host=_host(sec, "syslog", where),
        udp=_bool(sec, "syslog", "udp", d.udp, where),
        tcp=_bool(sec, "syslog", "tcp", d.tcp, where),
        port=_int(sec, "syslog", "port", d.port, 0, 65535, where),
        tls=_bool(sec, "syslog", "tls", d.tls, where),
        tls_port=_int(sec, "syslog", "tls_port", d.tls_port, 0, 65535, where),
        max_message_bytes=_int(
            sec, "syslog", "max_message_bytes", d.max_message_bytes, 480, 16 << 20, where
        ),
        idle_timeout_s=_int(sec, "syslog", "idle_timeout_s", d.idle_timeout_s, 1, 86_400, where),
        timezone=tz,
    )


def _http(sec: dict[str, Any], where: str) -> HttpConfig:
    d = HttpConfig()
    _no_extra(sec, "http", set(HttpConfig.__slots__), where)
    return HttpConfig(
        enabled=_bool(sec, "http", "enabled", d.enabled, where),
        host=_host(sec, "http", where),
        port=_int(sec, "http", "port", d.port, 0, 65535, where),
        max_body_bytes=_int(sec, "http", "max_body_bytes", d.max_body_bytes, 1024, 1 << 30, where),
    )


def _tls(sec: dict[str, Any], where: str) -> TlsConfig:
    d = TlsConfig()
    _no_extra(sec, "tls", set(TlsConfig.__slots__), where)
    cert = _str(sec, "tls", "cert", d.cert, where)
    key = _str(sec, "tls", "key", d.key, where)
    for name, value in (("cert", cert), ("key", key)):
        if not value:
            raise ConfigError(
                f"{where}: [tls] {name} must name a file",
                hint=f'restore the default "{getattr(d, name)}"',
            )
    return TlsConfig(
        cert=cert,
        key=key,
        client_ca=_str(sec, "tls", "client_ca", d.client_ca, where),
        require_client_cert=_bool(sec, "tls", "require_client_cert", d.require_client_cert, where),
    )


def _devices(sec: dict[str, Any], where: str) -> DevicesConfig:
    _no_extra(sec, "devices", {"require_registered"}, where)
    return DevicesConfig(
        require_registered=_bool(sec, "devices", "require_registered", False, where)
    )


def _spool(sec: dict[str, Any], where: str) -> SpoolConfig:
    d = SpoolConfig()
    _no_extra(sec, "spool", set(SpoolConfig.__slots__), where)
    policy = _str(sec, "spool", "policy", d.policy, where)
    if policy not in SPOOL_POLICIES:
        raise ConfigError(
            f"{where}: [spool] policy = {policy!r} is not a policy",
            hint='use "block" (senders wait) or "reject" (HTTP 503, connections closed)',
        )
    path = _str(sec, "spool", "path", d.path, where)
    if not path:
        raise ConfigError(f"{where}: [spool] path must name a directory", hint='e.g. "spool"')
    return SpoolConfig(
        path=path,
        max_bytes=_int(sec, "spool", "max_bytes", d.max_bytes, 1 << 20, 1 << 50, where),
        policy=policy,
    )


def _ingest(sec: dict[str, Any], where: str) -> IngestConfig:
    d = IngestConfig()
    _no_extra(sec, "ingest", set(IngestConfig.__slots__), where)
    return IngestConfig(
        queue_events=_int(sec, "ingest", "queue_events", d.queue_events, 1024, 10_000_000, where),
        workers=_int(sec, "ingest", "workers", d.workers, 0, 256, where),
    )


def _tails(raw: Any, where: str) -> tuple[TailConfig, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(
            f"{where}: tail must be written as [[tail]] tables",
            hint='one per file: [[tail]] then path = "/var/log/auth.log"',
        )
    out: list[TailConfig] = []
    seen: set[str] = set()
    for n, t in enumerate(raw, 1):
        name = f"tail #{n}"
        _no_extra(t, name, {"path", "format"}, where)
        path = t.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(
                f"{where}: [[tail]] #{n} path must be an absolute file path",
                hint='e.g. path = "/var/log/auth.log"',
            )
        if path in seen:
            raise ConfigError(f"{where}: [[tail]] {path} is listed twice", hint="keep one")
        seen.add(path)
        fmt = t.get("format", "syslog")
        if fmt not in TAIL_FORMATS:
            raise ConfigError(
                f"{where}: [[tail]] {path}: format {fmt!r} is not known",
                hint=f"use one of {', '.join(TAIL_FORMATS)}",
            )
        out.append(TailConfig(path=path, format=fmt))
    return tuple(out)


def _host(sec: dict[str, Any], name: str, where: str) -> str:
    host = _str(sec, name, "host", "127.0.0.1", where)
    try:
        ipaddress.ip_address(host)
    except ValueError as e:
        raise ConfigError(
            f"{where}: [{name}] host = {host!r} is not an IP address",
            hint='use "127.0.0.1" (this machine only), "0.0.0.0" or "::" (every network)',
        ) from e
    return host
