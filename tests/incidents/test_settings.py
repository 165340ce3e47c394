"""[incidents] and [csirt]: defaults, the priority matrix, and every bad value named."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from mamori import config
from mamori.configcheck import ConfigError
from mamori.incidents import settings
from mamori.incidents.model import Level, Priority, Targets
from mamori.incidents.settings import IncidentsConfig, TicketTargets

H, M, L = Level.HIGH, Level.MEDIUM, Level.LOW

ITIL = {
    (H, H): "P1", (H, M): "P2", (M, H): "P2",
    (H, L): "P3", (M, M): "P3", (L, H): "P3",
    (M, L): "P4", (L, M): "P4",
    (L, L): "P5",
}  # fmt: skip


def parse(extra: dict[str, Any]) -> IncidentsConfig:
    return config.parse({"ledger": {"origin": "t.example/m/1"}, **extra}).incidents


def test_the_template_parses_to_the_defaults() -> None:
    raw = tomllib.loads(config.render("t.example/m/1"))
    assert config.parse(raw).incidents == IncidentsConfig()
    assert parse({}) == IncidentsConfig()


@pytest.mark.parametrize(("pair", "expected"), sorted(ITIL.items()))
def test_default_matrix_is_itil(pair: tuple[Level, Level], expected: str) -> None:
    assert IncidentsConfig().priority(*pair) == Priority(expected)


def test_every_pair_of_levels_has_a_priority() -> None:
    cfg = IncidentsConfig()
    assert {(u, i) for u in Level for i in Level} == {(u, i) for u, i, _ in cfg.matrix}


def test_matrix_can_be_changed_one_cell_at_a_time() -> None:
    cfg = parse({"incidents": {"priority": {"low": {"low": "P4"}}}})
    assert cfg.priority(L, L) is Priority.P4
    assert cfg.priority(H, H) is Priority.P1


def test_default_targets() -> None:
    cfg = IncidentsConfig()
    expected = {"P1": (15, 240), "P2": (30, 480), "P3": (120, 1440), "P4": (480, 4320),
                "P5": (1440, 10080)}  # fmt: skip
    for p, (resp, res) in expected.items():
        t = cfg.targets_for(Priority(p))
        assert (t.response_minutes, t.resolution_minutes) == (resp, res)
        assert t.isolated_minutes == t.response_minutes  # isolation within the response target
        assert t.response_minutes <= t.vendor_contacted_minutes <= t.resolution_minutes
        assert t.reported_minutes > t.resolution_minutes
    assert cfg.breach_report_minutes == 60
    assert cfg.ticket_targets_for(Priority.P1) == TicketTargets(30, 240)


def test_targets_can_be_changed() -> None:
    cfg = parse({"incidents": {"targets": {"P1": {"response_minutes": 10}}}})
    assert cfg.targets_for(Priority.P1) == Targets(10, 15, 30, 240, 300)
    # The first response is not a stage: its target need only be within the resolution's.
    cfg = parse({"incidents": {"targets": {"P1": {"response_minutes": 20}}}})
    assert cfg.targets_for(Priority.P1) == Targets(20, 15, 30, 240, 300)
    cfg = parse({"incidents": {"tickets": {"P5": {"first_response_minutes": 10080}}}})
    assert cfg.ticket_targets_for(Priority.P5) == TicketTargets(10080, 10080)


def test_csirt_values() -> None:
    cfg = parse({"csirt": {"to": ["a@b.example"], "cc": ["c@d.example"], "contractor": "x"}})
    assert cfg.csirt.to == ("a@b.example",)
    assert cfg.csirt.cc == ("c@d.example",)
    assert cfg.csirt.language == "ja"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({"incidents": {"colour": 1}}, "unknown key 'colour' in [incidents]"),
        ({"incidents": {"breach_report_minutes": 0}}, "[incidents] breach_report_minutes"),
        ({"incidents": {"breach_report_minutes": "60"}}, "[incidents] breach_report_minutes"),
        ({"incidents": {"priority": "P1"}}, "[incidents.priority] must be a table"),
        (
            {"incidents": {"priority": {"urgent": {}}}},
            "unknown key 'urgent' in [incidents.priority]",
        ),
        ({"incidents": {"priority": {"high": {"high": "P0"}}}}, "[incidents.priority] high.high"),
        ({"incidents": {"priority": {"high": {"huge": "P1"}}}}, "in [incidents.priority.high]"),
        ({"incidents": {"priority": {"high": "P1"}}}, "[incidents.priority.high] must be a table"),
        ({"incidents": {"targets": {"P6": {}}}}, "unknown key 'P6' in [incidents.targets]"),
        (
            {"incidents": {"targets": {"P1": {"response_minutes": -1}}}},
            "[incidents.targets.P1] response_minutes",
        ),
        (
            {"incidents": {"targets": {"P1": {"resolution_minutes": 5}}}},
            "[incidents.targets.P1] resolution_minutes = 5 is before",
        ),
        (
            {"incidents": {"targets": {"P2": {"reported_minutes": 100}}}},
            "[incidents.targets.P2] reported_minutes = 100 is before resolution_minutes",
        ),
        (
            {"incidents": {"targets": {"P3": {"vendor_contacted_minutes": 60}}}},
            "[incidents.targets.P3] vendor_contacted_minutes = 60 is before isolated_minutes",
        ),
        ({"incidents": {"targets": {"P1": {"respond": 5}}}}, "in [incidents.targets.P1]"),
        (
            {"incidents": {"tickets": {"P1": {"first_response_minutes": 500}}}},
            "[incidents.tickets.P1] resolution_minutes = 240 is before",
        ),
        (
            {"incidents": {"tickets": {"P5": {"resolution_minutes": 0}}}},
            "[incidents.tickets.P5] resolution_minutes",
        ),
        ({"csirt": {"to": "csirt@agency.example"}}, "[csirt] to must be a list of strings"),
        ({"csirt": {"to": ["not an address"]}}, "[csirt] to: 'not an address'"),
        ({"csirt": {"cc": ["a@b"]}}, "[csirt] cc: 'a@b'"),
        ({"csirt": {"language": "en"}}, "[csirt] language = 'en'"),
        ({"csirt": {"contractor": 5}}, "[csirt] contractor must be a string"),
        ({"csirt": {"phone": "1"}}, "unknown key 'phone' in [csirt]"),
    ],
)
def test_bad_values_are_named_with_key_and_fix(extra: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as e:
        parse(extra)
    assert named in e.value.message
    assert e.value.hint


def test_sections_are_declared() -> None:
    assert settings.SECTIONS == ("incidents", "csirt")
