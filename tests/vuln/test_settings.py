"""[vuln]: defaults, the template, deadlines per severity, and every bad value named."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from mamori import config
from mamori.configcheck import ConfigError
from mamori.vuln import settings
from mamori.vuln.settings import DeadlineDays, VulnConfig


def parse(extra: dict[str, Any]) -> VulnConfig:
    return config.parse({"ledger": {"origin": "t.example/m/1"}, **extra}).vuln


def test_the_template_parses_to_the_defaults() -> None:
    raw = tomllib.loads(config.render("t.example/m/1"))
    assert config.parse(raw).vuln == VulnConfig()
    assert parse({}) == VulnConfig()
    assert settings.SECTIONS == ("vuln",)
    for key in ("max_db_age_days", "eol_warn_days", "critical", "high", "medium", "low"):
        assert f"\n{key} = " in settings.TEMPLATE


def test_defaults() -> None:
    cfg = VulnConfig()
    assert (cfg.max_db_age_days, cfg.eol_warn_days) == (2, 180)
    days = cfg.deadline_days
    assert [days.for_severity(s) for s in ("critical", "high", "medium", "low")] == [7, 30, 90, 180]
    assert days.for_severity("unknown") == 30  # an unrated vulnerability is not assumed mild
    assert days.for_severity("none") == 180
    assert days.for_severity("bogus") == 30


def test_one_severity_can_be_changed() -> None:
    cfg = parse({"vuln": {"deadline_days": {"critical": 3}}})
    assert cfg.deadline_days == DeadlineDays(critical=3)


@pytest.mark.parametrize(
    ("raw", "message", "hint"),
    [
        ({"vuln": {"max_db_age_days": 0}}, "max_db_age_days = 0 is out of range", "from 1 to 365"),
        ({"vuln": {"eol_warn_days": "x"}}, "eol_warn_days", "whole number"),
        ({"vuln": {"colour": 1}}, "unknown key 'colour' in [vuln]", "deadline_days"),
        ({"vuln": {"deadline_days": 7}}, "[vuln.deadline_days] must be a table", "critical = 7"),
        ({"vuln": {"deadline_days": {"urgent": 1}}}, "unknown key 'urgent'", "critical"),
        ({"vuln": {"deadline_days": {"high": 0}}}, "high = 0 is out of range", "from 1 to 3650"),
        ({"vuln": {"deadline_days": {"high": True}}}, "high = True is out of range", "1 to 3650"),
        (
            {"vuln": {"deadline_days": {"critical": 60}}},
            "critical = 60 is longer than high = 30",
            "make critical at most 30 days",
        ),
        ({"vuln": 3}, "[vuln] must be a table", ""),
    ],
)
def test_bad_values_name_the_key_and_the_fix(raw: dict[str, Any], message: str, hint: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(raw)
    assert message in e.value.message
    assert hint in (e.value.hint or "")
