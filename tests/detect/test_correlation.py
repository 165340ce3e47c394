"""Sigma correlations over streams of base-rule matches, at the window edges."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.detect.correlation import (
    BaseMatch,
    Condition,
    CorrelationEngine,
    CorrelationMatch,
    CorrelationSpec,
    CorrelationType,
    Operator,
)
from mamori.detect.errors import DetectError

ET = CorrelationType


def spec(
    kind: CorrelationType = ET.EVENT_COUNT,
    rules: Sequence[str] = ("failed",),
    *,
    timespan: float = 60,
    group_by: Sequence[str] = ("user.name",),
    cond: Sequence[tuple[Operator, int]] = ((Operator.GTE, 3),),
    **kwargs: Any,
) -> CorrelationSpec:
    return CorrelationSpec(
        id=kwargs.pop("id", "corr"),
        type=kind,
        rules=tuple(rules),
        timespan=timespan,
        group_by=tuple(group_by),
        conditions=tuple(Condition(op, n) for op, n in cond),
        **kwargs,
    )


Event = tuple[str, float, dict[str, Any]]  # rule, time, fields; the event id is its position


def run(
    engine: CorrelationEngine, events: Sequence[Event], *, end: bool = True
) -> list[CorrelationMatch]:
    out: list[CorrelationMatch] = []
    for n, (rule, t, fields) in enumerate(events):
        out += engine.feed(BaseMatch(rule, t, n, fields))
    if end:
        out += engine.flush()
    return out


def fired(
    specs: Sequence[CorrelationSpec], events: Sequence[Event]
) -> list[tuple[str, tuple[int, ...]]]:
    return [(m.rule, m.event_ids) for m in run(CorrelationEngine(specs), events)]


def u(name: str, **more: Any) -> dict[str, Any]:
    return {"user.name": name, **more}


@pytest.mark.parametrize(
    ("name", "specs", "events", "expected"),
    [
        (
            "exactly timespan apart is inside the window",
            [spec()],
            [("failed", 0, u("a")), ("failed", 30, u("a")), ("failed", 60, u("a"))],
            [("corr", (0, 1, 2))],
        ),
        (
            "a hair more than timespan apart is outside",
            [spec()],
            [("failed", 0, u("a")), ("failed", 30, u("a")), ("failed", 60.001, u("a"))],
            [],
        ),
        (
            "the window slides: the first event leaves, the next three fire",
            [spec()],
            [("failed", t, u("a")) for t in (0, 30, 61, 62)],
            [("corr", (1, 2, 3))],
        ),
        (
            "after firing the window resets: three more are needed",
            [spec()],
            [("failed", t, u("a")) for t in (0, 1, 2, 3, 4, 5)],
            [("corr", (0, 1, 2)), ("corr", (3, 4, 5))],
        ),
        (
            "group-by keeps users apart",
            [spec()],
            [
                ("failed", 0, u("a")),
                ("failed", 1, u("b")),
                ("failed", 2, u("a")),
                ("failed", 3, u("a")),
            ],
            [("corr", (0, 2, 3))],
        ),
        (
            "group-by on nested fields",
            [spec(group_by=("user.name", "host.name"))],
            [
                ("failed", 0, {"user": {"name": "a"}, "host": {"name": "x"}}),
                ("failed", 1, {"user": {"name": "a"}, "host": {"name": "y"}}),
                ("failed", 2, {"user": {"name": "a"}, "host": {"name": "x"}}),
                ("failed", 3, {"user": {"name": "a"}, "host": {"name": "x"}}),
            ],
            [("corr", (0, 2, 3))],
        ),
        (
            "gt is strict",
            [spec(cond=((Operator.GT, 2),))],
            [("failed", t, u("a")) for t in (0, 1, 2)],
            [("corr", (0, 1, 2))],
        ),
        (
            "other rules do not count",
            [spec()],
            [("failed", 0, u("a")), ("ok", 1, u("a")), ("failed", 2, u("a"))],
            [],
        ),
        (
            "event_count over two rules counts both",
            [spec(rules=("failed", "locked"))],
            [("failed", 0, u("a")), ("locked", 1, u("a")), ("failed", 2, u("a"))],
            [("corr", (0, 1, 2))],
        ),
        (
            "value_count counts distinct values",
            [spec(ET.VALUE_COUNT, group_by=("source.ip",), value_field="user.name")],
            [
                ("failed", 0, u("a", **{"source.ip": "1"})),
                ("failed", 1, u("a", **{"source.ip": "1"})),
                ("failed", 2, u("b", **{"source.ip": "1"})),
                ("failed", 3, {"source.ip": "1"}),  # no user: not a value
                ("failed", 4, u("c", **{"source.ip": "1"})),
            ],
            [("corr", (0, 1, 2, 4))],
        ),
        (
            "temporal: any order",
            [spec(ET.TEMPORAL, ("a", "b", "c"), cond=())],
            [("c", 0, u("x")), ("a", 10, u("x")), ("b", 60, u("x"))],
            [("corr", (0, 1, 2))],
        ),
        (
            "temporal: one rule missing from the window",
            [spec(ET.TEMPORAL, ("a", "b", "c"), cond=())],
            [("c", 0, u("x")), ("a", 10, u("x")), ("b", 61, u("x"))],
            [],
        ),
        (
            "temporal with a condition on how many rules",
            [spec(ET.TEMPORAL, ("a", "b", "c"), cond=((Operator.GTE, 2),))],
            [("c", 0, u("x")), ("c", 1, u("x")), ("b", 2, u("x"))],
            [("corr", (0, 1, 2))],
        ),
        (
            "temporal_ordered: in order fires",
            [spec(ET.TEMPORAL_ORDERED, ("a", "b"), cond=())],
            [("a", 0, u("x")), ("b", 60, u("x"))],
            [("corr", (0, 1))],
        ),
        (
            "temporal_ordered: wrong order does not fire",
            [spec(ET.TEMPORAL_ORDERED, ("a", "b"), cond=())],
            [("b", 0, u("x")), ("a", 1, u("x"))],
            [],
        ),
        (
            "temporal_ordered: same timestamp, arrival order decides",
            [spec(ET.TEMPORAL_ORDERED, ("a", "b"), cond=())],
            [("b", 5, u("x")), ("a", 5, u("x")), ("b", 5, u("x"))],
            [("corr", (1, 2))],
        ),
        (
            "temporal_ordered: out of window",
            [spec(ET.TEMPORAL_ORDERED, ("a", "b"), cond=())],
            [("a", 0, u("x")), ("b", 60.5, u("x"))],
            [],
        ),
        (
            "aliases join two rules with different field names",
            [
                spec(
                    ET.TEMPORAL,
                    ("internal_error", "new_connection"),
                    cond=(),
                    timespan=10,
                    group_by=("internal_ip",),
                    aliases={
                        "internal_ip": {
                            "internal_error": "destination.ip",
                            "new_connection": "source.ip",
                        }
                    },
                )
            ],
            [
                ("internal_error", 0, {"destination.ip": "10.0.0.1", "source.ip": "9.9.9.9"}),
                ("new_connection", 1, {"source.ip": "10.0.0.2", "destination.ip": "10.0.0.1"}),
                ("new_connection", 2, {"source.ip": "10.0.0.1"}),
            ],
            [("corr", (0, 2))],
        ),
        (
            "lt fires when the window closes, not before",
            [spec(cond=((Operator.LT, 3),))],
            [
                ("failed", 0, u("a")),
                ("failed", 1, u("a")),
                ("failed", 0, u("b")),
                ("failed", 1, u("b")),
                ("failed", 2, u("b")),
            ],
            [("corr", (0, 1))],
        ),
        (
            "a range (gt and lte) is judged at window close",
            [spec(cond=((Operator.GT, 1), (Operator.LTE, 2)))],
            [
                ("failed", 0, u("a")),
                ("failed", 1, u("a")),
                ("failed", 0, u("b")),
                ("failed", 0, u("c")),
                ("failed", 1, u("c")),
                ("failed", 2, u("c")),
            ],
            [("corr", (0, 1))],
        ),
        (
            "eq is judged at window close",
            [spec(cond=((Operator.EQ, 2),))],
            [("failed", 0, u("a")), ("failed", 60, u("a")), ("failed", 61, u("a"))],
            [("corr", (0, 1))],
        ),
        (
            "chaining: many failures then a success (the spec's example)",
            [
                spec(id="many_failed", cond=((Operator.GTE, 2),), group_by=("user.name",)),
                spec(
                    ET.TEMPORAL_ORDERED,
                    ("many_failed", "success"),
                    id="brute",
                    cond=(),
                    group_by=("user.name",),
                ),
            ],
            [
                ("failed", 0, u("a")),
                ("success", 1, u("a")),
                ("failed", 2, u("a")),
                ("success", 3, u("a")),
            ],
            [("many_failed", (0, 2)), ("brute", (0, 2, 3))],
        ),
    ],
)
def test_semantics(
    name: str,
    specs: list[CorrelationSpec],
    events: list[Event],
    expected: list[tuple[str, tuple[int, ...]]],
) -> None:
    assert fired(specs, events) == expected, name


def test_lt_waits_for_the_window_to_close() -> None:
    engine = CorrelationEngine([spec(cond=((Operator.LT, 3),))])
    assert engine.feed(BaseMatch("failed", 100, 0, u("a"))) == []
    assert engine.flush(160) == []  # 100 + 60 is still inside (inclusive)
    (match,) = engine.flush(160.5)
    assert (match.rule, match.group, match.event_ids) == ("corr", (("user.name", "a"),), (0,))
    assert (match.first, match.last) == (100, 100)
    assert engine.group_count == 0


def test_match_by_name_or_id() -> None:
    engine = CorrelationEngine([spec(rules=("failed_login",), cond=((Operator.GTE, 1),))])
    assert engine.feed(BaseMatch("53ba33fd", 0, 0, u("a"))) == []
    (m,) = engine.feed(BaseMatch("53ba33fd", 0, 1, u("a"), rule_name="failed_login"))
    assert m.event_ids == (1,)


def test_out_of_order_inside_the_bound_is_placed_late_ones_dropped() -> None:
    engine = CorrelationEngine([spec()])
    out = run(
        engine, [("failed", 100, u("a")), ("failed", 50, u("a")), ("failed", 39, u("a"))], end=False
    )
    assert out == []
    assert engine.stats.late == 1  # 39 < 100 - 60
    (m,) = engine.feed(BaseMatch("failed", 90, 3, u("a")))
    assert m.event_ids == (1, 3, 0)  # in time order
    assert (m.first, m.last) == (50, 100)


def test_state_expires_as_time_advances() -> None:
    engine = CorrelationEngine([spec()])
    run(engine, [("failed", 0, u(str(n))) for n in range(100)], end=False)
    assert engine.group_count == 100
    engine.flush(61)
    assert engine.group_count == 0
    assert engine.stats.expired == 100


def test_memory_bound_under_a_million_groups() -> None:
    engine = CorrelationEngine([spec()], max_groups=1000)
    for n in range(1_000_000):
        engine.feed(BaseMatch("failed", 0, n, {"user.name": n}))
    assert engine.group_count == 1000
    assert engine.stats.evicted == 999_000
    # The most recent groups survived: user 999999 fires after two more failures.
    engine.feed(BaseMatch("failed", 1, 0, {"user.name": 999_999}))
    assert engine.feed(BaseMatch("failed", 2, 1, {"user.name": 999_999}))


def test_generate_and_standalone() -> None:
    lower = spec(id="many_failed", cond=((Operator.GTE, 1),))
    upper = spec(ET.TEMPORAL, ("many_failed",), id="upper", cond=())
    engine = CorrelationEngine([lower, upper])
    assert not engine.is_standalone("failed")
    assert not engine.is_standalone("many_failed")
    assert engine.is_standalone("upper")
    out = engine.feed(BaseMatch("failed", 0, 0, u("a")))
    assert [(m.rule, m.standalone) for m in out] == [("many_failed", False), ("upper", True)]
    generating = CorrelationEngine([spec(generate=True)])
    assert generating.is_standalone("failed")


@pytest.mark.parametrize(
    ("specs", "message"),
    [
        (lambda: [spec(rules=())], "references no rules"),
        (lambda: [spec(rules=("a", "a"))], "twice"),
        (lambda: [spec(timespan=0)], "positive"),
        (lambda: [spec(ET.VALUE_COUNT)], "without a field"),
        (lambda: [spec(cond=())], "no condition"),
        (
            lambda: [spec(ET.TEMPORAL_ORDERED, ("a", "b"), cond=((Operator.GTE, 1),))],
            "temporal_ordered",
        ),
        (lambda: [spec(id="x", rules=("y",)), spec(id="y", rules=("x",))], "leads back"),
        (lambda: [spec(id="x"), spec(id="x")], "both called"),
    ],
)
def test_bad_specs(specs: Callable[[], list[CorrelationSpec]], message: str) -> None:
    with pytest.raises(DetectError, match=message):
        CorrelationEngine(specs())


@pytest.mark.parametrize("op", list(Operator))
def test_every_operator(op: Operator) -> None:
    c = Condition(op, 2)
    assert [c.holds(n) for n in (1, 2, 3)] == {
        Operator.GT: [False, False, True],
        Operator.GTE: [False, True, True],
        Operator.LT: [True, False, False],
        Operator.LTE: [True, True, False],
        Operator.EQ: [False, True, False],
        Operator.NEQ: [True, False, True],
    }[op]
    assert c.eager is (op in (Operator.GT, Operator.GTE))


def test_from_sigma() -> None:
    collection = pytest.importorskip("sigma.collection")
    rules = collection.SigmaCollection.from_yaml(
        """
title: Failed login
id: 53ba33fd-3a50-4468-a5ef-c583635cfa92
name: failed_login
logsource: {product: windows, service: security}
detection: {selection: {EventID: 4625}, condition: selection}
---
title: Many failed logins
id: a8418a5a-5fc4-46b5-b23b-6c73beb19d41
name: many_failed
correlation:
    type: value_count
    rules: [failed_login]
    group-by: [src_ip]
    timespan: 10m
    condition: {field: user, gte: 10}
    aliases:
        src_ip: {failed_login: source.ip}
---
title: Then success
id: b180ead8-d58f-40b2-ae54-c8940995b9b6
correlation:
    type: temporal_ordered
    rules: [many_failed, failed_login]
    group-by: [src_ip]
    timespan: 1h
"""
    )
    specs = [CorrelationSpec.from_sigma(r) for r in rules if hasattr(r, "timespan")]
    many, then = specs
    assert many == CorrelationSpec(
        id="a8418a5a-5fc4-46b5-b23b-6c73beb19d41",
        type=ET.VALUE_COUNT,
        rules=("failed_login",),
        timespan=600,
        group_by=("src_ip",),
        conditions=(Condition(Operator.GTE, 10),),
        value_field="user",
        aliases={"src_ip": {"failed_login": "source.ip"}},
        name="many_failed",
    )
    assert then.type is ET.TEMPORAL_ORDERED
    assert then.timespan == 3600
    CorrelationEngine(specs)


# ---- model test: event_count against a brute-force reference ------------------------------


def reference(
    events: Sequence[tuple[float, int]], timespan: float, op: Operator, n: int
) -> list[tuple[int, tuple[int, ...]]]:
    """Per group, the events since the last firing; fire when those within timespan of the
    newest satisfy the condition (events in time order)."""
    since_reset: dict[int, list[tuple[float, int]]] = {}
    out = []
    for i, (t, g) in enumerate(events):
        pending = since_reset.setdefault(g, [])
        pending.append((t, i))
        window = [(ti, j) for ti, j in pending if ti >= t - timespan]
        if Condition(op, n).holds(len(window)):
            out.append((g, tuple(j for _, j in window)))
            since_reset[g] = []
    return out


@settings(max_examples=300, deadline=None)
@given(
    gaps=st.lists(st.sampled_from([0, 0.5, 1, 2, 5, 10]), min_size=1, max_size=60),
    groups=st.lists(st.integers(0, 3), min_size=60, max_size=60),
    timespan=st.sampled_from([1, 2, 5, 10]),
    op=st.sampled_from([Operator.GT, Operator.GTE]),
    n=st.integers(1, 5),
)
def test_event_count_matches_reference(
    gaps: list[float], groups: list[int], timespan: float, op: Operator, n: int
) -> None:
    times: list[float] = []
    t = 0.0
    for gap in gaps:
        t += gap
        times.append(t)
    events = list(zip(times, groups, strict=False))
    engine = CorrelationEngine([spec(timespan=timespan, group_by=("g",), cond=((op, n),))])
    got = []
    for i, (ti, g) in enumerate(events):
        for m in engine.feed(BaseMatch("failed", ti, i, {"g": g})):
            got.append((m.group[0][1], m.event_ids))
    assert got == reference(events, timespan, op, n)
