"""`[smtp]` and `[[route]]` in mamori.toml: the mail server, and where each notification goes.

No secret is ever written in mamori.toml: the SMTP password and each webhook's HMAC key live in
files of their own (mode 0600), named by `password_file` and `secret_file` and read when a
message is sent. Plain-text transports are allowed only to this machine: `security = "none"`
and `http://` webhook URLs are refused for any other host.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Final, assert_never
from urllib.parse import urlsplit

from mamori.configcheck import ConfigError, integer, no_extra, section, string, strings
from mamori.notify.kinds import DEFAULT_KINDS, Kind, Security, Severity, Transport

SECTIONS: Final = ("smtp", "route")

TEMPLATE: Final = """
# ---- Notifications: e-mail and webhooks (docs/notify.md) ----------------------------------
# Alerts, escalations, incidents, breach notices and tickets go out along every [[route]] whose
# filters they pass; CSIRT reports go by e-mail to the addresses their sender gives. Deliveries
# wait in HOME/notify.db and are retried for 24 hours. Secrets are never written here: each
# lives in a file of its own (mode 0600; relative paths are in the home). Nothing is sent
# until [smtp] or a [[route]] is set, e.g.:
#
# [smtp]
# host = "smtp.example.jp"
# port = 587
# security = "starttls"    # starttls (587) | tls (implicit TLS, 465) | none (this machine only)
# username = "mamori"      # "" for no AUTH
# password_file = "secrets/smtp-password"
# from = "mamori@example.jp"
# timeout_s = 30
# ca_file = ""             # PEM file of a private CA; "" trusts the system's CAs
#
# [[route]]
# name = "soc-mail"
# kind = "email"
# to = ["soc@example.jp"]
# min_severity = "high"    # informational | low | medium | high | critical
# rules = []               # rule ids or globs, e.g. ["mamori.auth.*"]; [] takes every rule
# kinds = ["alert", "escalation", "incident", "breach", "ticket"]   # also: "csirt"
#
# [[route]]
# name = "chat"
# kind = "webhook"
# url = "https://hooks.example.jp/mamori"
# secret_file = "secrets/chat-webhook"   # the HMAC-SHA256 key: `openssl rand -hex 32 > FILE`
# min_severity = "critical"
# ca_file = ""
"""
"""This section's part of the config file `mamori init` writes."""

LOOPBACK_NAMES: Final = frozenset({"localhost"})
"""Host names, besides loopback addresses, that plain-text transports may use."""

ROUTE_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

# An addr-spec (RFC 5322 §3.4.1) in the dot-atom form and ASCII only: mamori sends without
# SMTPUTF8, and a quoted local part or a display name is never needed for a system address.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
ADDRESS: Final = re.compile(rf"^{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    """The `[smtp]` section: the mail server every e-mail goes through."""

    host: str
    """The server's host name or address."""
    from_addr: str
    """The envelope sender and From: address (`from` in the file)."""
    port: int = 587
    """Default: 587 for starttls, 465 for tls, 25 for none."""
    security: Security = Security.STARTTLS
    username: str = ""
    """"" for no SMTP AUTH."""
    password_file: str = ""
    """The file holding the password (relative paths are in the home); read at each send."""
    timeout_s: int = 30
    """Seconds allowed for each step of the SMTP dialogue."""
    ca_file: str = ""
    """A PEM file of the CAs that may vouch for the server; "" uses the system's."""


@dataclass(frozen=True, slots=True)
class Route:
    """One `[[route]]` table: a destination and the notifications it takes."""

    name: str
    transport: Transport
    """`kind` in the file: "email" or "webhook"."""
    to: tuple[str, ...] = ()
    """E-mail: the recipients."""
    url: str = ""
    """Webhook: where to POST (https, or http to this machine only)."""
    secret_file: str = ""
    """Webhook: the file holding the HMAC-SHA256 key (relative paths are in the home)."""
    ca_file: str = ""
    """Webhook: a PEM file of a private CA for the receiver; "" uses the usual trust store."""
    min_severity: Severity = Severity.HIGH
    """The lowest severity taken."""
    rules: tuple[str, ...] = ()
    """Rule ids or fnmatch globs; empty takes every rule (and notifications without one)."""
    kinds: tuple[Kind, ...] = DEFAULT_KINDS
    """The notification kinds taken."""

    def target(self) -> str:
        """Where it goes, safe to show and record: the addresses, or the URL's origin only
        (webhook URLs often carry their credential in the path, as Slack's do)."""
        match self.transport:
            case Transport.EMAIL:
                return ", ".join(self.to)
            case Transport.WEBHOOK:
                return redact_url(self.url)
            case _ as unreachable:
                assert_never(unreachable)


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Where notifications go: the mail server (None when not configured) and the routes."""

    smtp: SmtpConfig | None = None
    routes: tuple[Route, ...] = field(default=())

    def route(self, name: str) -> Route | None:
        """The route called `name`, if any."""
        for r in self.routes:
            if r.name == name:
                return r
        return None


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: hosts plain text may go to."""
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """The scheme, host and port of `url`, with "/…" for any path: never a credential."""
    parts = urlsplit(url)
    rest = "/…" if parts.path not in ("", "/") or parts.query else "/"
    return (
        f"{parts.scheme}://{parts.hostname or ''}"
        + (f":{parts.port}" if parts.port is not None else "")
        + rest
    )


def parse(raw: dict[str, Any], where: str) -> NotifyConfig:
    """Check `[smtp]` and `[[route]]`."""
    smtp = _smtp(raw, where) if "smtp" in raw else None
    routes = _routes(raw.get("route", []), where, smtp)
    return NotifyConfig(smtp=smtp, routes=routes)


def _smtp(raw: dict[str, Any], where: str) -> SmtpConfig:
    sec = section(raw, "smtp", where)
    if "password" in sec:
        raise ConfigError(
            f"{where}: [smtp] password must not be written in the config file",
            hint="put the password alone in a file readable only by mamori (chmod 600) and "
            'name it with password_file = "secrets/smtp-password"',
        )
    no_extra(sec, "smtp", _SMTP_KEYS, where)
    host = string(sec, "smtp", "host", "", where)
    if not host or any(c.isspace() or ord(c) < 0x20 for c in host) or "/" in host:
        raise ConfigError(
            f"{where}: [smtp] host = {host!r} is not a host name or address",
            hint='e.g. host = "smtp.example.jp"',
        )
    sec_raw = string(sec, "smtp", "security", Security.STARTTLS.value, where)
    try:
        security = Security(sec_raw)
    except ValueError as e:
        raise ConfigError(
            f"{where}: [smtp] security = {sec_raw!r} is not known",
            hint='use "starttls" (port 587), "tls" (implicit TLS, port 465), or "none" '
            "(to a server on this machine only)",
        ) from e
    if security is Security.NONE and not is_loopback(host):
        raise ConfigError(
            f'{where}: [smtp] security = "none" would send mail and the password in clear text '
            f"to {host}",
            hint='use security = "starttls" or "tls"; "none" is only allowed for 127.0.0.1, '
            "::1 or localhost",
        )
    username = string(sec, "smtp", "username", "", where)
    password_file = string(sec, "smtp", "password_file", "", where)
    if username and not password_file:
        raise ConfigError(
            f"{where}: [smtp] username is set but password_file is not",
            hint='name the file holding the password: password_file = "secrets/smtp-password"',
        )
    if password_file and not username:
        raise ConfigError(
            f"{where}: [smtp] password_file is set but username is not",
            hint='set username = "..." too, or password_file = "" for no SMTP AUTH',
        )
    if any(c in "\r\n" for c in username):
        raise ConfigError(f"{where}: [smtp] username must be one line")
    from_addr = string(sec, "smtp", "from", "", where)
    if not ADDRESS.match(from_addr):
        raise ConfigError(
            f"{where}: [smtp] from = {from_addr!r} is not an e-mail address",
            hint='write a bare address, e.g. from = "mamori@example.jp"',
        )
    return SmtpConfig(
        host=host,
        from_addr=from_addr,
        port=integer(sec, "smtp", "port", security.default_port, 1, 65535, where),
        security=security,
        username=username,
        password_file=password_file,
        timeout_s=integer(sec, "smtp", "timeout_s", 30, 1, 120, where),
        ca_file=string(sec, "smtp", "ca_file", "", where),
    )


_SMTP_KEYS: Final = {
    "host",
    "port",
    "security",
    "username",
    "password_file",
    "from",
    "timeout_s",
    "ca_file",
}
_ROUTE_KEYS: Final = {
    "name",
    "kind",
    "to",
    "url",
    "secret_file",
    "ca_file",
    "min_severity",
    "rules",
    "kinds",
}
_EMAIL_ONLY: Final = ("to",)
_WEBHOOK_ONLY: Final = ("url", "secret_file", "ca_file")


def _routes(raw: Any, where: str, smtp: SmtpConfig | None) -> tuple[Route, ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise ConfigError(
            f"{where}: route must be written as [[route]] tables",
            hint='one per destination: [[route]] then name = "soc-mail"',
        )
    out: list[Route] = []
    seen: set[str] = set()
    for n, t in enumerate(raw, 1):
        name = t.get("name")
        if not isinstance(name, str) or not ROUTE_NAME.match(name):
            raise ConfigError(
                f"{where}: [[route]] #{n} name = {name!r} is not a route name",
                hint='give each route a name of letters, digits, "-", "_" or ".", e.g. '
                'name = "soc-mail"',
            )
        sec_name = f'route "{name}"'
        label = f"[{sec_name}]"
        if name in seen:
            raise ConfigError(
                f"{where}: {label} is defined twice", hint="give each [[route]] its own name"
            )
        seen.add(name)
        no_extra(t, sec_name, _ROUTE_KEYS, where)
        out.append(_route(t, name, sec_name, where, smtp))
    return tuple(out)


def _route(
    t: dict[str, Any], name: str, sec_name: str, where: str, smtp: SmtpConfig | None
) -> Route:
    label = f"[{sec_name}]"
    kind_raw = t.get("kind")
    try:
        transport = Transport(str(kind_raw))
    except ValueError as e:
        raise ConfigError(
            f"{where}: {label} kind = {kind_raw!r} is not a route kind",
            hint='use kind = "email" or kind = "webhook"',
        ) from e
    sev_raw = t.get("min_severity", Severity.HIGH.value)
    try:
        min_severity = Severity(sev_raw)
    except ValueError as e:
        raise ConfigError(
            f"{where}: {label} min_severity = {sev_raw!r} is not a Sigma level",
            hint=f"use one of {', '.join(s.value for s in Severity)}",
        ) from e
    rules = strings(t, sec_name, "rules", where)
    if any(not r.strip() for r in rules):
        raise ConfigError(
            f"{where}: {label} rules holds an empty string",
            hint='list rule ids or globs, e.g. rules = ["mamori.auth.*"], or [] for every rule',
        )
    kinds = _kinds(t, sec_name, where)
    match transport:
        case Transport.EMAIL:
            _forbid(t, label, _WEBHOOK_ONLY, "webhook", where)
            if smtp is None:
                raise ConfigError(
                    f"{where}: {label} sends e-mail, but there is no [smtp] section",
                    hint="add [smtp] with host and from (see docs/notify.md)",
                )
            to = strings(t, sec_name, "to", where)
            if not to:
                raise ConfigError(
                    f"{where}: {label} to must list at least one address",
                    hint='e.g. to = ["soc@example.jp"]',
                )
            for addr in to:
                if not ADDRESS.match(addr):
                    raise ConfigError(
                        f"{where}: {label} to: {addr!r} is not an e-mail address",
                        hint='write bare addresses, e.g. to = ["soc@example.jp"]',
                    )
            return Route(
                name=name,
                transport=transport,
                to=to,
                min_severity=min_severity,
                rules=rules,
                kinds=kinds,
            )
        case Transport.WEBHOOK:
            _forbid(t, label, _EMAIL_ONLY, "email", where)
            url = string(t, sec_name, "url", "", where)
            _check_url(url, label, where)
            secret_file = string(t, sec_name, "secret_file", "", where)
            if not secret_file:
                raise ConfigError(
                    f"{where}: {label} secret_file is required: every webhook is signed",
                    hint="make a key with `openssl rand -hex 32 > HOME/secrets/NAME`, chmod 600, "
                    'and set secret_file = "secrets/NAME"; give the same key to the receiver',
                )
            return Route(
                name=name,
                transport=transport,
                url=url,
                secret_file=secret_file,
                ca_file=string(t, sec_name, "ca_file", "", where),
                min_severity=min_severity,
                rules=rules,
                kinds=kinds,
            )
        case _ as unreachable:
            assert_never(unreachable)


def _kinds(t: dict[str, Any], sec_name: str, where: str) -> tuple[Kind, ...]:
    if "kinds" not in t:
        return DEFAULT_KINDS
    label = f"[{sec_name}]"
    raw = strings(t, sec_name, "kinds", where)
    known = ", ".join(k.value for k in Kind)
    if not raw:
        raise ConfigError(
            f"{where}: {label} kinds is empty: the route would take nothing",
            hint=f"list what it takes from {known}, or remove the route",
        )
    out: list[Kind] = []
    for k in raw:
        try:
            kind = Kind(k)
        except ValueError as e:
            raise ConfigError(
                f"{where}: {label} kinds: {k!r} is not a notification kind",
                hint=f"use some of {known}",
            ) from e
        if kind not in out:
            out.append(kind)
    return tuple(out)


def _forbid(t: dict[str, Any], label: str, keys: tuple[str, ...], other: str, where: str) -> None:
    for key in keys:
        if key in t:
            raise ConfigError(
                f"{where}: {label} {key} is for {other} routes only",
                hint=f'remove {key}, or set kind = "{other}"',
            )


def _check_url(url: str, label: str, where: str) -> None:
    hint = 'e.g. url = "https://hooks.example.jp/mamori"'
    if not url:
        raise ConfigError(f"{where}: {label} url is required for a webhook", hint=hint)
    if any(c.isspace() or ord(c) < 0x20 for c in url):
        raise ConfigError(f"{where}: {label} url must not contain spaces", hint=hint)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError as e:
        raise ConfigError(f"{where}: {label} url has a bad port", hint=hint) from e
    del port
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{where}: {label} url is not an https:// URL", hint=hint)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(
            f"{where}: {label} url must not carry a user name or password",
            hint="requests are authenticated by their HMAC signature (secret_file)",
        )
    if parts.fragment:
        raise ConfigError(f"{where}: {label} url must not have a #fragment", hint=hint)
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(
            f"{where}: {label} url must use https: http:// would send alerts in clear text "
            f"to {parts.hostname}",
            hint="use an https:// URL; http:// is only allowed for 127.0.0.1, ::1 or localhost",
        )
