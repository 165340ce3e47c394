"""`[[dbguard]]` settings: the template's example parses, every bad value is named."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mamori.configcheck import ConfigError
from mamori.dbguard import settings as s


def example() -> dict[str, Any]:
    """The commented example of the template, uncommented."""
    lines = [
        line.removeprefix("# ")
        for line in s.TEMPLATE.splitlines()
        if (line.startswith("# ") and "=" in line) or line.startswith("# [[")
    ]
    return tomllib.loads("\n".join(lines))


def test_the_templates_example_parses() -> None:
    (cfg,) = s.parse(example(), "mamori.toml")
    assert cfg.name == "residents"
    assert cfg.listen == s.Address("127.0.0.1", 6433)
    assert cfg.upstream == s.Address("db.internal", 5432)
    assert cfg.upstream_tls is s.UpstreamTls.VERIFY_FULL
    assert cfg.firewall_rules == (
        s.FirewallRule(s.FirewallMode.MONITOR, role="batch", application="nightly-*"),
    )
    # every setting of the dataclass is in the example, so the template cannot drift
    assert set(example()["dbguard"][0]) | {"firewall_rule"} >= set(s._KEYS) - {"firewall_rule"}


def test_defaults() -> None:
    (cfg,) = s.parse({"dbguard": [{"name": "a", "upstream": "db:5432"}]}, "x")
    assert cfg.listen == s.Address("127.0.0.1", s.DEFAULT_PORT)
    assert cfg.upstream_tls is s.UpstreamTls.PREFER
    assert cfg.rows_per_statement == 1000 and cfg.rows_per_window == 10000
    assert cfg.rows_window_s == 600 and not cfg.rows_block
    assert cfg.time_policy is s.TimePolicy.ALERT
    assert cfg.client_tls and not cfg.log_statement_text
    assert s.parse({}, "x") == ()


def test_firewall_mode_per_role_and_application() -> None:
    (cfg,) = s.parse(
        {
            "dbguard": [
                {
                    "name": "a",
                    "upstream": "db:5432",
                    "firewall": "enforce",
                    "firewall_rule": [
                        {"role": "batch", "mode": "learn"},
                        {"application": "report-*", "mode": "monitor"},
                    ],
                }
            ]
        },
        "x",
    )
    assert cfg.firewall_mode("batch", "anything") is s.FirewallMode.LEARN
    assert cfg.firewall_mode("app", "report-monthly") is s.FirewallMode.MONITOR
    assert cfg.firewall_mode("app", "web") is s.FirewallMode.ENFORCE


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [("127.0.0.1:6433", "127.0.0.1", 6433), ("[::1]:5432", "::1", 5432), ("db:1", "db", 1)],
)
def test_addresses(text: str, host: str, port: int) -> None:
    assert s.address(text, "listen", "x") == s.Address(host, port)
    assert str(s.Address(host, port)) == text


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"upstream": "db:5432"}, "#1 name = None is not a name"),
        ({"name": "a b", "upstream": "db:5432"}, "is not a name"),
        ({"name": "a"}, "upstream is required"),
        ({"name": "a", "upstream": "db"}, "upstream = 'db' is not HOST:PORT"),
        ({"name": "a", "upstream": "db:0"}, "port out of range"),
        ({"name": "a", "upstream": "db:5432", "listen": "::1:5"}, "is not HOST:PORT"),
        ({"name": "a", "upstream": "db:5432", "listen": "[zz]:5"}, "is not HOST:PORT"),
        ({"name": "a", "upstream": "db:5432", "upstream_tls": "on"}, "upstream_tls = 'on'"),
        (
            {"name": "a", "upstream": "db:5432", "upstream_ca": "ca.pem"},
            "upstream_ca is set but",
        ),
        ({"name": "a", "upstream": "db:5432", "firewall": "strict"}, "firewall = 'strict'"),
        ({"name": "a", "upstream": "db:5432", "time_policy": "warn"}, "time_policy = 'warn'"),
        ({"name": "a", "upstream": "db:5432", "rows_per_statement": -1}, "rows_per_statement"),
        ({"name": "a", "upstream": "db:5432", "rows_block": "yes"}, "rows_block must be true"),
        ({"name": "a", "upstream": "db:5432", "colour": "red"}, "unknown key 'colour'"),
        ({"name": "a", "upstream": "db:5432", "time_exempt_roles": [""]}, "empty string"),
        (
            {"name": "a", "upstream": "db:5432", "firewall_rule": [{"role": "x"}]},
            "mode is required",
        ),
        (
            {"name": "a", "upstream": "db:5432", "firewall_rule": [{"mode": "x"}]},
            "mode = 'x' is not known",
        ),
        (
            {"name": "a", "upstream": "db:5432", "firewall_rule": [{"mode": "off", "user": "x"}]},
            "unknown key 'user'",
        ),
    ],
)
def test_bad_values_are_named(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        s.parse({"dbguard": [table]}, "mamori.toml")
    assert message in caught.value.message
    assert caught.value.message.startswith("mamori.toml: ")


def test_tables_must_be_distinct() -> None:
    one = {"name": "a", "upstream": "db:5432", "listen": "127.0.0.1:7000"}
    with pytest.raises(ConfigError, match="defined twice"):
        s.parse({"dbguard": [one, one]}, "x")
    with pytest.raises(ConfigError, match="used by another"):
        s.parse({"dbguard": [one, {**one, "name": "b"}]}, "x")
    with pytest.raises(ConfigError, match=r"\[\[dbguard\]\] tables"):
        s.parse({"dbguard": one}, "x")


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "mamori.toml"
    path.write_text('[[dbguard]]\nname = "a"\nupstream = "db:5432"\n')
    assert s.from_file(path, "a").upstream == s.Address("db", 5432)
    with pytest.raises(ConfigError, match="no \\[\\[dbguard\\]\\] named 'b'"):
        s.from_file(path, "b")


@pytest.mark.parametrize("enum", [s.UpstreamTls, s.FirewallMode, s.TimePolicy])
def test_every_enum_value_parses(enum: Any) -> None:
    key = {s.UpstreamTls: "upstream_tls", s.FirewallMode: "firewall", s.TimePolicy: "time_policy"}
    for member in enum:
        (cfg,) = s.parse(
            {"dbguard": [{"name": "a", "upstream": "db:5432", key[enum]: member.value}]}, "x"
        )
        assert getattr(cfg, key[enum]) is member
