"""Notifications and the routing table (pure)."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from mamori.notify.errors import NotifyError
from mamori.notify.kinds import DEFAULT_KINDS, Kind, Security, Severity, Transport
from mamori.notify.model import Notification, route_takes, select_routes
from mamori.notify.settings import NotifyConfig, parse

CONFIG = parse(
    tomllib.loads(
        """
[smtp]
host = "smtp.example.jp"
from = "mamori@example.jp"

[[route]]                 # the default filters: high and above, every rule, all but csirt
name = "soc"
kind = "email"
to = ["soc@example.jp"]

[[route]]
name = "auth-low"
kind = "webhook"
url = "https://hooks.example.jp/a"
secret_file = "s"
min_severity = "low"
rules = ["mamori.auth.*", "mamori.vpn.login-failed"]
kinds = ["alert"]

[[route]]
name = "breach-only"
kind = "email"
to = ["dpo@example.jp"]
min_severity = "informational"
kinds = ["breach", "csirt"]
"""
    ),
    "t",
)


def note(
    kind: str = "alert", severity: str = "high", rule: str | None = None, **kw: Any
) -> Notification:
    return Notification(
        kind=Kind(kind),
        subject="件名",
        body="本文",
        payload={},
        severity=Severity(severity),
        rule=rule,
        **kw,
    )


def names(n: Notification, cfg: NotifyConfig = CONFIG) -> list[str]:
    return [r.name for r in select_routes(cfg, n)]


@pytest.mark.parametrize(
    ("kind", "severity", "rule", "expected"),
    [
        ("alert", "critical", None, ["soc"]),
        ("alert", "high", "mamori.auth.bruteforce", ["soc", "auth-low"]),
        ("alert", "medium", "mamori.auth.bruteforce", ["auth-low"]),
        ("alert", "low", "mamori.auth.bruteforce", ["auth-low"]),
        ("alert", "informational", "mamori.auth.bruteforce", []),
        ("alert", "high", "mamori.vpn.login-failed", ["soc", "auth-low"]),
        ("alert", "high", "mamori.vpn.login-failed-2", ["soc"]),
        ("alert", "high", "MAMORI.AUTH.X", ["soc"]),  # globs match case-sensitively
        ("alert", "medium", None, []),
        ("escalation", "high", "mamori.auth.x", ["soc"]),
        ("incident", "critical", None, ["soc"]),
        ("ticket", "high", None, ["soc"]),
        ("breach", "informational", None, ["breach-only"]),
        ("breach", "high", None, ["soc", "breach-only"]),
        ("csirt", "critical", None, ["breach-only"]),
    ],
)
def test_routing_table(kind: str, severity: str, rule: str | None, expected: list[str]) -> None:
    assert names(note(kind, severity, rule)) == expected


def test_explicit_recipients_bypass_routing() -> None:
    n = note("csirt", "critical", to=("csirt@example.jp",))
    assert select_routes(CONFIG, n) == []


def test_no_routes_take_nothing() -> None:
    assert names(note(severity="critical"), NotifyConfig()) == []


def test_every_severity_is_ordered() -> None:
    ranks = [s.rank for s in Severity]
    assert ranks == sorted(ranks) == list(range(len(Severity)))
    assert Severity.CRITICAL.rank > Severity.HIGH.rank > Severity.INFORMATIONAL.rank


@pytest.mark.parametrize("severity", list(Severity))
def test_min_severity_is_inclusive(severity: Severity) -> None:
    (route,) = [r for r in CONFIG.routes if r.name == "breach-only"]
    for s in Severity:
        r = type(route)(**{**_fields(route), "min_severity": severity})
        assert route_takes(r, note("breach", s.value)) is (s.rank >= severity.rank)


@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_routes(kind: Kind) -> None:
    expected = ["breach-only"] if kind in (Kind.BREACH, Kind.CSIRT) else []
    if kind in DEFAULT_KINDS:
        expected = ["soc", *expected]
    assert names(note(kind.value, "critical")) == expected


def test_enums_are_complete() -> None:
    assert {t.value for t in Transport} == {"email", "webhook"}
    assert {s.default_port for s in Security} == {587, 465, 25}


def test_strings_become_enums() -> None:
    n = Notification(
        kind="incident",  # type: ignore[arg-type]
        subject="s",
        body="b",
        payload={"a": 1},
        severity="low",  # type: ignore[arg-type]
    )
    assert n.kind is Kind.INCIDENT and n.severity is Severity.LOW


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "page"}, "not a notification kind"),
        ({"severity": "urgent"}, "not a severity"),
        ({"subject": "  "}, "needs a subject"),
        ({"subject": "a\r\nBcc: x@example.jp"}, "one line"),
        ({"subject": "x" * 999}, "characters long"),
        ({"body": "a\0b"}, "NUL"),
        ({"to": ("not an address",)}, "not an e-mail address"),
        ({"to": ("a@example.jp>\r\nRCPT TO:<b@example.jp",)}, "not an e-mail address"),
    ],
)
def test_a_bad_notification_is_refused(changes: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "kind": "alert",
        "subject": "s",
        "body": "b",
        "payload": {},
        "severity": "high",
    }
    with pytest.raises(NotifyError, match=message):
        Notification(**{**base, **changes})


def _fields(route: Any) -> dict[str, Any]:
    return {f: getattr(route, f) for f in route.__slots__}
