"""The differential test of issue 5: mamori's evaluator against pySigma's SQLite backend.

For each Sigma rule in ../shared/data/sigma, events are crafted from its detection items to hit
and miss it (a base event with every field of the rule set to a value that matches nothing, then
that event with each selection's values laid over it, with all of them, and with all but the
filters). Both engines see the same events under the rules' own field names (mamori without the
ECS mapping); every field of the rule is present in every crafted event so SQL's NULL logic
cannot differ from Sigma's missing-field logic. Rules the backend cannot convert are listed in
build/detect-differential.txt and in the test output, not hidden.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

from sigma.backends.sqlite.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mamori.detect.compile import compile_rule, flatten
from mamori.detect.rules import load_paths
from tests.conftest import REPO, shared_data

MISS = "mamori-miss-value"
OMIT = object()


def _gen(v: SigmaType) -> Any:
    """A value that should satisfy one Sigma value (OMIT: leave the field out)."""
    if isinstance(v, SigmaExpansion):
        return _gen(v.values[0])
    if isinstance(v, SigmaString):
        return "".join(
            p if isinstance(p, str) else "" if p is SpecialChars.WILDCARD_MULTI else "x"
            for p in v.s
        )
    if isinstance(v, SigmaBool):
        return "true" if v.boolean else "false"
    if isinstance(v, SigmaNumber):
        return v.number
    if isinstance(v, SigmaRegularExpression):
        return re.sub(r"[\\^$.*+?()\[\]{}|]", "", str(v.regexp))
    if isinstance(v, SigmaCIDRExpression):
        net = v.network
        return str(net.network_address + 1 if net.num_addresses > 1 else net.network_address)
    if isinstance(v, SigmaCompareExpression):
        n = v.number.number
        op = v.op.name
        return n + 1 if op == "GT" else n - 1 if op == "LT" else n
    if isinstance(v, SigmaNull):
        return OMIT
    if isinstance(v, SigmaExists):
        return "present" if v.exists else OMIT
    return MISS


def _items(d: SigmaDetection | SigmaDetectionItem) -> list[SigmaDetectionItem]:
    if isinstance(d, SigmaDetectionItem):
        return [d]
    return [i for x in d.detection_items for i in _items(x)]


def _overlay(d: SigmaDetection) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in _items(d):
        field = item.field or "message"
        if not item.value:
            out[field] = OMIT
            continue
        vals = item.value if item.value_linking is ConditionAND else item.value[:1]
        for v in vals:
            if isinstance(v, SigmaFieldReference):
                out[field] = out[v.field] = "same"
                continue
            g = _gen(v)
            prev = out.get(field)
            if isinstance(prev, str) and isinstance(g, str) and prev != MISS:
                g = prev + g
            out[field] = g
    return out


def _base_value(rule_values: list[SigmaType]) -> Any:
    if any(isinstance(v, SigmaCompareExpression | SigmaNumber) for v in rule_values):
        return -987654
    return MISS


def craft(rule: SigmaRule) -> list[dict[str, Any]]:
    dets = rule.detection.detections
    values: dict[str, list[SigmaType]] = {}
    for d in dets.values():
        for item in _items(d):
            values.setdefault(item.field or "message", []).extend(item.value)
            for v in item.value:
                if isinstance(v, SigmaFieldReference):
                    values.setdefault(v.field, [])
    base = {f: _base_value(vs) for f, vs in values.items()}
    overlays = {name: _overlay(d) for name, d in dets.items()}
    variants: list[dict[str, Any]] = [{}]
    variants += list(overlays.values())
    allov: dict[str, Any] = {}
    positive: dict[str, Any] = {}
    for name, ov in overlays.items():
        allov.update(ov)
        if not name.startswith("filter"):
            positive.update(ov)
    variants += [allov, positive]
    for ov in overlays.values():  # each selection with one value spoilt
        if ov:
            first = next(iter(ov))
            variants.append({**positive, **ov, first: base[first]})
    events: list[dict[str, Any]] = []
    for variant in variants:
        ev = {**base, **variant}
        events.append({k: x for k, x in ev.items() if x is not OMIT})
    return events


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def sqlite_matches(query: str, fields: list[str], events: list[dict[str, Any]]) -> set[int]:
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, _regexp, deterministic=True)
    cols = ", ".join('"' + f.replace('"', '""') + '"' for f in fields)
    db.execute(f"CREATE TABLE logs ({cols})")
    for ev in events:
        db.execute(
            f"INSERT INTO logs ({cols}) VALUES ({', '.join('?' for _ in fields)})",
            [ev.get(f) for f in fields],
        )
    sql = query.replace("<TABLE_NAME>", "logs").replace("SELECT *", "SELECT rowid", 1)
    return {row[0] - 1 for row in db.execute(sql)}


def test_mamori_agrees_with_the_sqlite_backend() -> None:
    loaded = load_paths([shared_data("sigma", "rules")])
    assert not loaded.problems
    backend = sqliteBackend()
    compared = 0
    hits = 0
    disagreements: list[str] = []
    unconvertible: list[str] = []
    for rule in loaded.rules:
        path = Path(loaded.path_of(rule)).name
        rid = str(rule.id)
        try:
            queries = backend.convert(
                SigmaCollection.from_yaml(Path(loaded.path_of(rule)).read_text())
            )
        except (SigmaError, NotImplementedError, TypeError) as e:
            unconvertible.append(f"{path} {rid}: {type(e).__name__}: {str(e).splitlines()[0]}")
            continue
        assert len(queries) == 1
        events = craft(rule)
        fields = sorted({f for ev in events for f in ev})
        if len({f.lower() for f in fields}) != len(fields):
            unconvertible.append(f"{path} {rid}: field names differing only in case (SQLite)")
            continue
        try:
            want = sqlite_matches(str(queries[0]), fields, events)
        except sqlite3.Error as e:
            unconvertible.append(f"{path} {rid}: the converted query fails in SQLite: {e}")
            continue
        compiled = compile_rule(rule, {})
        got = {i for i, ev in enumerate(events) if compiled.match(flatten(ev))}
        compared += 1
        hits += bool(got)
        if got != want:
            disagreements.append(f"{path} {rid}: mamori {sorted(got)} sqlite {sorted(want)}")
    report = [
        f"rules: {len(loaded.rules)}; compared: {compared}; with a crafted hit: {hits}; "
        f"disagreements: {len(disagreements)}; unconvertible: {len(unconvertible)}",
        "",
        "disagreements:",
        *disagreements,
        "",
        "not compared (the SQLite backend cannot convert them, or SQLite cannot run them):",
        *unconvertible,
    ]
    out = REPO / "build" / "detect-differential.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print("\n".join(report))
    assert compared > 300
    assert not disagreements, "\n".join(disagreements)
