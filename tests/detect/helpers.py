"""Building rules from Python values for the detection tests."""

from __future__ import annotations

from typing import Any

import yaml

from mamori.detect.compile import CompiledRule, compile_rule, flatten
from mamori.detect.rules import load_text


def rule_from(detection: dict[str, Any], **extra: Any) -> CompiledRule:
    doc = {
        "title": "t",
        "id": "00000000-0000-0000-0000-000000000001",
        "logsource": {"product": "linux"},
        "detection": detection,
        **extra,
    }
    loaded = load_text(yaml.safe_dump(doc), "t.yml")
    assert not loaded.problems, loaded.problems
    return compile_rule(loaded.rules[0], {})


def matches(detection: dict[str, Any], event: dict[str, Any]) -> bool:
    return rule_from(detection).match(flatten(event))
