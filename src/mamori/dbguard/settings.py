"""`[[dbguard]]` in mamori.toml: one table per database put behind the guard's proxy.

No secret is written here: the end-user attribution key lives in a file of its own
(`end_user_key_file`, mode 0600), read when the proxy starts.
"""

from __future__ import annotations

import enum
import fnmatch
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from mamori.configcheck import ConfigError, boolean, integer, no_extra, string, strings
from mamori.dbguard.protocol import CLIENT_MESSAGE_LIMIT

SECTIONS: Final = ("dbguard",)

TEMPLATE: Final = """
# ---- Database guard: a PostgreSQL proxy in front of each database (docs/dbguard.md) -------
# Applications connect to `listen` instead of the database; every statement, its rows and
# who ran it become ledger events (DB-1…DB-4). Nothing is proxied until a [[dbguard]] is set,
# e.g.:
#
# [[dbguard]]
# name = "residents"
# listen = "127.0.0.1:6433"        # "0.0.0.0:6433" to accept applications on other machines
# upstream = "db.internal:5432"    # the PostgreSQL server
# upstream_tls = "verify-full"     # disable | prefer | require | verify-full
# upstream_ca = "tls/db-ca.pem"    # CA of the server's certificate; "" uses the system's
# client_tls = true                # offer TLS to clients with [tls] cert and key
# log_statement_text = false       # true records statements with their literal values
# end_user_key_file = ""           # HMAC key for SET mamori.end_user (DB-2), e.g.
#                                  # "secrets/dbguard-residents.key" (openssl rand -hex 32)
# end_user_max_age_s = 300         # how old an end-user token may be
# firewall = "learn"               # off | learn | monitor | enforce
# rows_per_statement = 1000        # DB-3: more rows from one statement is an alert (0 = off)
# rows_per_window = 10000          # ... or from one role within rows_window_s (0 = off)
# rows_window_s = 600
# rows_block = false               # true cancels the statement instead of only alerting
# time_policy = "alert"            # off | alert | block: access outside business hours
# time_exempt_roles = []           # e.g. ["batch"]
# max_client_message_bytes = 67108864
# connect_timeout_s = 10
# startup_timeout_s = 60
# events_per_session = 10000       # statement events waiting for the ledger before the
#                                  # proxy stops reading that client
# privileges_dsn = ""              # DB-1: libpq conninfo `mamori up` checks privileges with
#                                  # against the approved baseline, e.g. "host=db.internal
#                                  # dbname=residents user=mamori_audit" (password in a passfile)
# privileges_interval_s = 900
# max_client_connections = 1000   # sessions at once; more get "too many clients" (53300)
#
# [[dbguard.firewall_rule]]        # per role / application (globs): first match wins
# role = "batch"
# application = "nightly-*"
# mode = "monitor"
"""
"""This section's part of the config file `mamori init` writes."""

_E = TypeVar("_E", bound=enum.Enum)

NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DEFAULT_PORT: Final = 6433


class UpstreamTls(enum.Enum):
    """TLS from the proxy to the server, as libpq's sslmode of the same names."""

    DISABLE = "disable"
    PREFER = "prefer"
    """TLS when the server offers it, no certificate check (protects against passive
    listeners only)."""
    REQUIRE = "require"
    """TLS or no connection, no certificate check."""
    VERIFY_FULL = "verify-full"
    """TLS, the certificate checked against `upstream_ca` and the host name."""


class FirewallMode(enum.Enum):
    OFF = "off"
    LEARN = "learn"
    MONITOR = "monitor"
    ENFORCE = "enforce"


class TimePolicy(enum.Enum):
    OFF = "off"
    ALERT = "alert"
    BLOCK = "block"


@dataclass(frozen=True, slots=True)
class FirewallRule:
    """A `[[dbguard.firewall_rule]]`: the mode for sessions of matching role and application."""

    mode: FirewallMode
    role: str = "*"
    """A role name or glob."""
    application: str = "*"
    """An application_name glob."""

    def matches(self, role: str, application: str) -> bool:
        return fnmatch.fnmatchcase(role, self.role) and fnmatch.fnmatchcase(
            application, self.application
        )


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class DbGuardConfig:
    """One `[[dbguard]]` table."""

    name: str
    listen: Address
    upstream: Address
    upstream_tls: UpstreamTls = UpstreamTls.PREFER
    upstream_ca: str = ""
    """PEM file of the CAs for verify-full (relative paths are in the home); "" uses the
    system's."""
    client_tls: bool = True
    """Answer a client's SSLRequest with TLS, using [tls] cert and key."""
    log_statement_text: bool = False
    """Record statements as sent, literal values included. Off: normalised text only."""
    end_user_key_file: str = ""
    """File holding the HMAC key of end-user tokens (DB-2); "" accepts no token as verified."""
    end_user_max_age_s: int = 300
    firewall: FirewallMode = FirewallMode.LEARN
    firewall_rules: tuple[FirewallRule, ...] = ()
    rows_per_statement: int = 1000
    rows_per_window: int = 10000
    rows_window_s: int = 600
    rows_block: bool = False
    time_policy: TimePolicy = TimePolicy.ALERT
    time_exempt_roles: tuple[str, ...] = ()
    max_client_message_bytes: int = CLIENT_MESSAGE_LIMIT
    connect_timeout_s: int = 10
    startup_timeout_s: int = 60
    events_per_session: int = 10000
    """Statement events a session may have waiting for the ledger; beyond, the proxy stops
    reading that client until the ledger catches up."""
    privileges_dsn: str = ""
    """libpq connection string `mamori up` reads privileges with (DB-1 drift check against the
    approved baseline); "" checks nothing. Prefer a passfile to a password in it."""
    privileges_interval_s: int = 900
    max_client_connections: int = 1000
    """Sessions at once; one more gets FATAL 53300, as from PostgreSQL."""

    def firewall_mode(self, role: str, application: str) -> FirewallMode:
        """The mode for a session: the first matching rule's, else `firewall`."""
        for rule in self.firewall_rules:
            if rule.matches(role, application):
                return rule.mode
        return self.firewall


_KEYS: Final = {
    "name",
    "listen",
    "upstream",
    "upstream_tls",
    "upstream_ca",
    "client_tls",
    "log_statement_text",
    "end_user_key_file",
    "end_user_max_age_s",
    "firewall",
    "firewall_rule",
    "rows_per_statement",
    "rows_per_window",
    "rows_window_s",
    "rows_block",
    "time_policy",
    "time_exempt_roles",
    "max_client_message_bytes",
    "connect_timeout_s",
    "startup_timeout_s",
    "events_per_session",
    "privileges_dsn",
    "privileges_interval_s",
    "max_client_connections",
}
_RULE_KEYS: Final = {"role", "application", "mode"}


def parse(raw: dict[str, Any], where: str) -> tuple[DbGuardConfig, ...]:
    """Check every `[[dbguard]]` table."""
    tables = raw.get("dbguard", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ConfigError(
            f"{where}: dbguard must be written as [[dbguard]] tables",
            hint='one per database: [[dbguard]] then name = "residents"',
        )
    out: list[DbGuardConfig] = []
    names: set[str] = set()
    listens: set[tuple[str, int]] = set()
    for n, t in enumerate(tables, 1):
        name = t.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(
                f"{where}: [[dbguard]] #{n} name = {name!r} is not a name",
                hint='letters, digits, "-", "_" or ".", e.g. name = "residents"',
            )
        if name in names:
            raise ConfigError(
                f'{where}: [dbguard "{name}"] is defined twice',
                hint="give each [[dbguard]] its own name",
            )
        names.add(name)
        cfg = parse_table(t, name, where)
        key = (cfg.listen.host, cfg.listen.port)
        if cfg.listen.port and key in listens:
            raise ConfigError(
                f'{where}: [dbguard "{name}"] listen = "{cfg.listen}" is used by another '
                "[[dbguard]]",
                hint="give each proxy its own port",
            )
        listens.add(key)
        out.append(cfg)
    return tuple(out)


def parse_table(t: dict[str, Any], name: str, where: str) -> DbGuardConfig:
    """Check one `[[dbguard]]` table (its name already checked)."""
    sec = f'dbguard "{name}"'
    label = f"[{sec}]"
    no_extra(t, sec, _KEYS, where)
    d = DbGuardConfig(name, Address("127.0.0.1", DEFAULT_PORT), Address("127.0.0.1", 5432))
    listen = address(string(t, sec, "listen", str(d.listen), where), f"{label} listen", where)
    upstream_text = string(t, sec, "upstream", "", where)
    if not upstream_text:
        raise ConfigError(
            f"{where}: {label} upstream is required",
            hint='name the PostgreSQL server, e.g. upstream = "db.internal:5432"',
        )
    upstream = address(upstream_text, f"{label} upstream", where, allow_zero=False)
    upstream_tls = _enum(t, sec, "upstream_tls", UpstreamTls, d.upstream_tls, where)
    upstream_ca = string(t, sec, "upstream_ca", "", where)
    if upstream_ca and upstream_tls is not UpstreamTls.VERIFY_FULL:
        raise ConfigError(
            f"{where}: {label} upstream_ca is set but upstream_tls = "
            f'"{upstream_tls.value}" does not check certificates',
            hint='set upstream_tls = "verify-full", or remove upstream_ca',
        )
    roles = strings(t, sec, "time_exempt_roles", where)
    if any(not r for r in roles):
        raise ConfigError(f"{where}: {label} time_exempt_roles holds an empty string")
    return DbGuardConfig(
        name=name,
        listen=listen,
        upstream=upstream,
        upstream_tls=upstream_tls,
        upstream_ca=upstream_ca,
        client_tls=boolean(t, sec, "client_tls", d.client_tls, where),
        log_statement_text=boolean(t, sec, "log_statement_text", False, where),
        end_user_key_file=string(t, sec, "end_user_key_file", "", where),
        end_user_max_age_s=integer(t, sec, "end_user_max_age_s", 300, 1, 86_400, where),
        firewall=_enum(t, sec, "firewall", FirewallMode, d.firewall, where),
        firewall_rules=_rules(t.get("firewall_rule", []), label, where),
        rows_per_statement=integer(t, sec, "rows_per_statement", 1000, 0, 1 << 40, where),
        rows_per_window=integer(t, sec, "rows_per_window", 10000, 0, 1 << 40, where),
        rows_window_s=integer(t, sec, "rows_window_s", 600, 1, 31 * 86_400, where),
        rows_block=boolean(t, sec, "rows_block", False, where),
        time_policy=_enum(t, sec, "time_policy", TimePolicy, d.time_policy, where),
        time_exempt_roles=roles,
        max_client_message_bytes=integer(
            t, sec, "max_client_message_bytes", CLIENT_MESSAGE_LIMIT, 1 << 16, 1 << 30, where
        ),
        connect_timeout_s=integer(t, sec, "connect_timeout_s", 10, 1, 300, where),
        startup_timeout_s=integer(t, sec, "startup_timeout_s", 60, 1, 3600, where),
        events_per_session=integer(t, sec, "events_per_session", 10000, 10, 10_000_000, where),
        privileges_dsn=string(t, sec, "privileges_dsn", "", where),
        privileges_interval_s=integer(t, sec, "privileges_interval_s", 900, 10, 7 * 86_400, where),
        max_client_connections=integer(t, sec, "max_client_connections", 1000, 1, 100_000, where),
    )


def address(text: str, label: str, where: str, *, allow_zero: bool = True) -> Address:
    """``HOST:PORT`` or ``[IPv6]:PORT``."""
    hint = 'write HOST:PORT, e.g. "127.0.0.1:6433", "db.internal:5432" or "[::1]:6433"'
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        ok = bool(sep)
        if ok:
            try:
                ipaddress.IPv6Address(host)
            except ValueError:
                ok = False
    else:
        host, sep, port_text = text.rpartition(":")
        ok = bool(sep) and ":" not in host
    if (
        not ok
        or not host
        or any(c.isspace() or ord(c) < 0x20 or c in "/@" for c in host)
        or not port_text.isdigit()
    ):
        raise ConfigError(f"{where}: {label} = {text!r} is not HOST:PORT", hint=hint)
    port = int(port_text)
    if port > 65535 or (port == 0 and not allow_zero):
        raise ConfigError(f"{where}: {label} = {text!r} has a port out of range", hint=hint)
    return Address(host, port)


def _enum(t: dict[str, Any], sec: str, key: str, cls: type[_E], default: _E, where: str) -> _E:
    value = t.get(key, default.value)
    try:
        return cls(value)
    except ValueError as e:
        known = " | ".join(str(m.value) for m in cls)
        raise ConfigError(
            f"{where}: [{sec}] {key} = {value!r} is not known", hint=f"use one of {known}"
        ) from e


def _rules(raw: Any, label: str, where: str) -> tuple[FirewallRule, ...]:
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise ConfigError(
            f"{where}: {label} firewall_rule must be written as [[dbguard.firewall_rule]] "
            "tables after their [[dbguard]]",
        )
    out: list[FirewallRule] = []
    for n, r in enumerate(raw, 1):
        sec = f"{label[1:-1]} firewall_rule #{n}"
        no_extra(r, sec, _RULE_KEYS, where)
        if "mode" not in r:
            raise ConfigError(f"{where}: [{sec}] mode is required", hint='e.g. mode = "monitor"')
        role = string(r, sec, "role", "*", where)
        app = string(r, sec, "application", "*", where)
        if not role or not app:
            raise ConfigError(
                f"{where}: [{sec}] role and application must not be empty",
                hint='leave one out, or write "*", to match any',
            )
        mode = _enum(r, sec, "mode", FirewallMode, FirewallMode.LEARN, where)
        out.append(FirewallRule(mode=mode, role=role, application=app))
    return tuple(out)


def from_file(path: Path, name: str) -> DbGuardConfig:
    """The `[[dbguard]]` table called `name` in the config file at `path`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    for cfg in parse(raw, str(path)):
        if cfg.name == name:
            return cfg
    raise ConfigError(
        f"{path} has no [[dbguard]] named {name!r}",
        hint="check the name, or give --listen and --upstream instead",
    )
