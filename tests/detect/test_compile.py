"""Each modifier and condition form, table-driven: (detection, event, expected)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from mamori.detect.compile import flatten
from mamori.detect.ecs import ECS_FIELDS
from tests.detect.helpers import matches, rule_from


def sel(item: dict[str, Any]) -> dict[str, Any]:
    return {"sel": item, "condition": "sel"}


B64 = base64.b64encode(b"powershell -enc").decode()

MODIFIERS: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    ("equal, case-insensitive", {"a": "Foo"}, {"a": "fOO"}, True),
    ("equal, whole value", {"a": "Foo"}, {"a": "Foox"}, False),
    ("cased", {"a|cased": "Foo"}, {"a": "foo"}, False),
    ("cased hit", {"a|cased": "Foo"}, {"a": "Foo"}, True),
    ("contains", {"a|contains": "bar"}, {"a": "xxBARxx"}, True),
    ("contains miss", {"a|contains": "bar"}, {"a": "ba r"}, False),
    ("contains cased", {"a|contains|cased": "Bar"}, {"a": "xbarx"}, False),
    ("startswith", {"a|startswith": "/usr"}, {"a": "/USR/bin"}, True),
    ("startswith miss", {"a|startswith": "/usr"}, {"a": "x/usr"}, False),
    ("endswith", {"a|endswith": ".exe"}, {"a": "C:\\x.EXE"}, True),
    ("endswith miss", {"a|endswith": ".exe"}, {"a": "x.exe.txt"}, False),
    ("list is OR", {"a": ["x", "y"]}, {"a": "y"}, True),
    ("all", {"a|contains|all": ["x", "y"]}, {"a": "y..x"}, True),
    ("all miss", {"a|contains|all": ["x", "y"]}, {"a": "x"}, False),
    ("wildcard *", {"a": "a*c"}, {"a": "abbbc"}, True),
    ("wildcard ?", {"a": "a?c"}, {"a": "abc"}, True),
    ("wildcard ? one char", {"a": "a?c"}, {"a": "abbc"}, False),
    ("escaped *", {"a": "a\\*c"}, {"a": "a*c"}, True),
    ("escaped * is literal", {"a": "a\\*c"}, {"a": "abc"}, False),
    ("re", {"a|re": "^ab+c$"}, {"a": "abbbc"}, True),
    ("re is cased", {"a|re": "^abc$"}, {"a": "ABC"}, False),
    ("re|i", {"a|re|i": "^abc$"}, {"a": "ABC"}, True),
    ("re|m", {"a|re|m": "^b$"}, {"a": "a\nb"}, True),
    ("re|s", {"a|re|s": "a.b"}, {"a": "a\nb"}, True),
    ("re unanchored", {"a|re": "b+"}, {"a": "abbc"}, True),
    ("cidr v4", {"a|cidr": "10.0.0.0/8"}, {"a": "10.2.3.4"}, True),
    ("cidr v4 miss", {"a|cidr": "10.0.0.0/8"}, {"a": "11.2.3.4"}, False),
    ("cidr v6", {"a|cidr": "2001:db8::/32"}, {"a": "2001:db8::1"}, True),
    ("cidr not an address", {"a|cidr": "10.0.0.0/8"}, {"a": "host"}, False),
    ("base64", {"a|base64": "powershell -enc"}, {"a": B64}, True),
    (
        "base64offset|contains",
        {"a|base64offset|contains": "http"},
        {"a": "xx" + base64.b64encode(b"a http://").decode()},
        True,
    ),
    ("exists true", {"a|exists": True}, {"a": ""}, True),
    ("exists true, missing", {"a|exists": True}, {"b": 1}, False),
    ("exists false", {"a|exists": False}, {"b": 1}, True),
    ("gt", {"a|gt": 5}, {"a": 6}, True),
    ("gt equal", {"a|gt": 5}, {"a": 5}, False),
    ("gte", {"a|gte": 5}, {"a": 5}, True),
    ("lt", {"a|lt": 5}, {"a": "4"}, True),
    ("lte", {"a|lte": 5}, {"a": 6}, False),
    ("gt not a number", {"a|gt": 5}, {"a": "x"}, False),
    ("fieldref", {"a|fieldref": "b"}, {"a": "x", "b": "x"}, True),
    ("fieldref miss", {"a|fieldref": "b"}, {"a": "x", "b": "y"}, False),
    ("null, missing", {"a": None}, {"b": 1}, True),
    ("null, json null", {"a": None}, {"a": None}, True),
    ("null, present", {"a": None}, {"a": "x"}, False),
    ("number", {"a": 4624}, {"a": 4624}, True),
    ("number as text", {"a": 4624}, {"a": "4624"}, True),
    ("number miss", {"a": 4624}, {"a": 4625}, False),
    ("bool", {"a": True}, {"a": True}, True),
    ("list-valued field", {"a": "x"}, {"a": ["y", "X"]}, True),
    ("windash", {"a|windash|contains": "-enc"}, {"a": "ps /enc"}, True),
    ("nested path", {"process.pid": 7}, {"process": {"pid": 7}}, True),
    ("literal dotted key", {"process.pid": 7}, {"process.pid": 7}, True),
    ("missing field", {"a": "x"}, {}, False),
]


@pytest.mark.parametrize(
    ("item", "event", "expected"),
    [pytest.param(i, e, x, id=n) for n, i, e, x in MODIFIERS],
)
def test_modifier(item: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(sel(item), event) is expected


def test_keyword_search_looks_at_message_and_original() -> None:
    det = {"kw": ["Failed password", "refused"], "condition": "kw"}
    assert matches(det, {"message": "sshd: Failed password for x"})
    assert matches(det, {"event": {"original": "connection REFUSED"}})
    assert not matches(det, {"other": "Failed password"})


S = {"a": "1"}
CONDITIONS: list[tuple[str, dict[str, Any], bool]] = [
    ("x and y", {"a": "1", "b": "1"}, True),
    ("x and y", {"a": "1"}, False),
    ("x or y", {"b": "1"}, True),
    ("not x", {"b": "1"}, True),
    ("not x", {"a": "1"}, False),
    ("x and not (y or z)", {"a": "1", "c": "1"}, False),
    ("x and not (y or z)", {"a": "1"}, True),
    ("(x or y) and z", {"b": "1", "c": "1"}, True),
    ("1 of sel*", {"d": "1"}, True),
    ("1 of sel*", {"a": "1"}, False),
    ("all of sel*", {"d": "1", "e": "1"}, True),
    ("all of sel*", {"d": "1"}, False),
    ("1 of them", {"c": "1"}, True),
    ("1 of them", {}, False),
    ("all of them", {"a": "1", "b": "1", "c": "1", "d": "1", "e": "1"}, True),
    ("all of them", {"a": "1", "b": "1", "c": "1", "d": "1"}, False),
    ("x and not 1 of sel*", {"a": "1", "e": "1"}, False),
]


@pytest.mark.parametrize(("condition", "event", "expected"), CONDITIONS)
def test_condition(condition: str, event: dict[str, Any], expected: bool) -> None:
    det = {
        "x": {"a": "1"},
        "y": {"b": "1"},
        "z": {"c": "1"},
        "sel_1": {"d": "1"},
        "sel_2": {"e": "1"},
        "condition": condition,
    }
    assert matches(det, event) is expected


def test_items_in_a_selection_are_and_and_list_of_maps_is_or() -> None:
    assert matches(sel({"a": "1", "b": "2"}), {"a": "1", "b": "2"})
    assert not matches(sel({"a": "1", "b": "2"}), {"a": "1"})
    det = {"sel": [{"a": "1"}, {"b": "2"}], "condition": "sel"}
    assert matches(det, {"b": "2"})


def test_several_conditions_are_or() -> None:
    det = {"x": {"a": "1"}, "y": {"b": "1"}, "condition": ["x", "y"]}
    assert matches(det, {"b": "1"})


def test_ecs_mapping_applies_at_compile_time() -> None:
    from mamori.detect.compile import compile_rule
    from mamori.detect.rules import load_text

    text = """
title: t
id: 00000000-0000-0000-0000-000000000002
logsource: {product: linux}
detection:
  sel:
    Image|endswith: /nc
    DestinationPort: 4444
  condition: sel
"""
    rule = compile_rule(load_text(text, "t.yml").rules[0], ECS_FIELDS)
    ev = {"process": {"executable": "/usr/bin/nc"}, "destination": {"port": 4444}}
    assert rule.match(flatten(ev))
    assert not rule.match(flatten({"Image": "/usr/bin/nc", "DestinationPort": 4444}))


def test_compile_once_evaluate_many_is_pure() -> None:
    r = rule_from(sel({"a|contains": "x"}))
    ev = flatten({"a": "xx"})
    assert all(r.match(ev) for _ in range(3))
    assert ev == {"a": "xx"}
