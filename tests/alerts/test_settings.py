"""`[alerts]`: defaults, the template `mamori init` writes, every refusal naming the key; and
docs/alerts.md names every setting (docs that cannot drift)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mamori import config
from mamori.alerts.settings import DEFAULT_ESCALATE_MINUTES, TEMPLATE, AlertsConfig, parse
from mamori.configcheck import ConfigError
from mamori.detect.detection import SEVERITIES
from mamori.home import Home

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"


def test_the_defaults() -> None:
    cfg = parse({}, "t")
    assert cfg == AlertsConfig()
    assert (cfg.suppress_seconds, cfg.dedup_hours, cfg.max_escalations, cfg.min_severity) == (
        300,
        24,
        3,
        "low",
    )
    assert dict(cfg.escalate_minutes) == {
        "critical": 15,
        "high": 30,
        "medium": 240,
        "low": 0,
        "informational": 0,
    }
    assert [cfg.escalate_after_s(s) for s in SEVERITIES] == [None, None, 14400.0, 1800.0, 900.0]


def test_the_template_writes_every_default() -> None:
    raw = tomllib.loads(TEMPLATE)
    assert parse(raw, "t") == AlertsConfig()
    assert set(raw["alerts"]) == set(AlertsConfig.__slots__)
    assert raw["alerts"]["escalate_minutes"] == dict(DEFAULT_ESCALATE_MINUTES)


def test_a_new_home_has_the_section(home: Home) -> None:
    assert home.config().alerts == AlertsConfig()
    assert "[alerts.escalate_minutes]" in config.TEMPLATE


def test_values_are_read() -> None:
    cfg = parse(
        {
            "alerts": {
                "suppress_seconds": 0,
                "dedup_hours": 1,
                "max_escalations": 10,
                "min_severity": "high",
                "escalate_minutes": {"critical": 5, "low": 60},
            }
        },
        "t",
    )
    assert (cfg.suppress_seconds, cfg.dedup_hours, cfg.max_escalations) == (0, 1, 10)
    assert cfg.min_severity == "high"
    assert cfg.escalate_minutes["critical"] == 5 and cfg.escalate_minutes["low"] == 60
    assert cfg.escalate_minutes["high"] == 30  # missing: its default


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"suppress": 1}, "unknown key 'suppress' in [alerts]"),
        ({"suppress_seconds": -1}, "[alerts] suppress_seconds = -1 is out of range"),
        ({"suppress_seconds": "300"}, "[alerts] suppress_seconds = '300' is out of range"),
        ({"dedup_hours": 24 * 91}, "[alerts] dedup_hours"),
        ({"max_escalations": True}, "[alerts] max_escalations"),
        ({"min_severity": "urgent"}, "min_severity = 'urgent' is not a severity"),
        ({"min_severity": 3}, "[alerts] min_severity must be a string"),
        ({"escalate_minutes": 15}, "[alerts] escalate_minutes must be a table"),
        ({"escalate_minutes": {"severe": 1}}, "unknown key 'severe' in [alerts.escalate_minutes]"),
        ({"escalate_minutes": {"high": -1}}, "[alerts.escalate_minutes] high = -1"),
        ({"escalate_minutes": {"high": 10081}}, "[alerts.escalate_minutes] high = 10081"),
    ],
)
def test_wrong_values_are_refused_naming_the_key(section: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse({"alerts": section}, "mamori.toml")
    assert message in caught.value.message and caught.value.message.startswith("mamori.toml: ")


def test_a_wrong_value_in_the_home_is_refused_by_config_load(home: Home) -> None:
    text = home.config_path.read_text().replace("max_escalations = 3", "max_escalations = -1")
    home.config_path.write_text(text)
    with pytest.raises(ConfigError, match="max_escalations"):
        home.config()


def test_the_docs_name_every_setting() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for key in AlertsConfig.__slots__:
        assert f"`{key}`" in text, key
    for level in SEVERITIES:
        assert f"`{level}`" in text, level
