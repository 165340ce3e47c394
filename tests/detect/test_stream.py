"""The live-stream core: ledger entries in, Detections out; and the engine's prefilter, which
must find exactly the matches that running every rule finds."""

from __future__ import annotations

import datetime as dt
import random
import textwrap
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaExpansion,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mamori.detect.calendar import BusinessCalendar
from mamori.detect.catalogue import BUILTIN_DIR
from mamori.detect.compile import CompiledRule, compile_rule
from mamori.detect.ecs import ECS_FIELDS
from mamori.detect.engine import Engine, build_engine, detect_test, event_time
from mamori.detect.enrich import Enricher
from mamori.detect.errors import DetectError
from mamori.detect.rules import LoadResult, load_paths, load_text
from mamori.detect.stream import MESSAGE_LIMIT, StreamDetector
from mamori.ledger.canonical import canonical
from tests.conftest import shared_data
from tests.detect.helpers import rule_from

SSH_FAIL = """\
title: ssh failure
id: 11111111-1111-4111-8111-111111111111
level: high
tags: [clause.SEC-5, attack.t1110, clause.App-7]
logsource: {product: linux, service: sshd}
detection:
  sel: {event.outcome: failure}
  condition: sel
"""
SSH_OK = """\
title: ssh login
id: 33333333-3333-4333-8333-333333333333
logsource: {product: linux, service: sshd}
detection:
  sel: {event.outcome: success}
  condition: sel
"""
BURST = """\
title: ssh failure burst
id: 22222222-2222-4222-8222-222222222222
level: critical
tags: [clause.SEC-5]
correlation:
  type: event_count
  rules: [11111111-1111-4111-8111-111111111111]
  group-by: [source.ip]
  timespan: 5m
  condition: {gte: 3}
"""


def detector(*docs: str, enricher: Enricher | None = None) -> StreamDetector:
    loaded = load_text("\n---\n".join(docs), "rules.yml")
    assert not loaded.problems, loaded.problems
    det, problems = StreamDetector.from_load(loaded, enricher=enricher)
    assert problems == []
    return det


def ssh(second: int, ip: str = "192.0.2.1", *, outcome: str = "failure", **more: Any) -> bytes:
    return canonical(
        {
            "@timestamp": f"2026-11-27T10:00:{second:02d}.250000Z",
            "event": {"action": "ssh_login", "outcome": outcome},
            "log": {"syslog": {"appname": "sshd"}},
            "source": {"ip": ip},
            "user": {"name": "root"},
            "host": {"name": "web1"},
            **more,
        }
    )


def test_a_base_detection_carries_the_rule_and_the_event() -> None:
    det = detector(SSH_FAIL, SSH_OK)
    long = "Failed password for root " + "x" * 600
    [d] = det.feed(41, ssh(7, message=long, destination={"ip": "198.51.100.2", "port": 22}))
    assert d.rule == "11111111-1111-4111-8111-111111111111"
    assert (d.title, d.severity, d.clauses) == ("ssh failure", "high", ("SEC-5", "App-7"))
    assert d.events == (41,) and not d.correlation
    assert d.first_seen == d.last_seen == event_time({"@timestamp": "2026-11-27T10:00:07.25Z"})
    assert d.group == (
        ("host.name", "web1"),
        ("user.name", "root"),
        ("source.ip", "192.0.2.1"),
        ("destination.ip", "198.51.100.2"),
    )
    assert d.summary == (
        "ssh failure: host=web1 user=root source.ip=192.0.2.1 destination.ip=198.51.100.2"
    )
    assert d.fields == {
        "@timestamp": "2026-11-27T10:00:07.250000Z",
        "host.name": "web1",
        "user.name": "root",
        "source.ip": "192.0.2.1",
        "destination.ip": "198.51.100.2",
        "destination.port": 22,
        "event.action": "ssh_login",
        "event.outcome": "failure",
        "message": long[:MESSAGE_LIMIT],
    }
    [ok] = det.feed(42, ssh(8, outcome="success"))
    assert ok.severity == "medium" and ok.clauses == ()  # no level, no clause tags
    assert det.stats.events == 2 and det.stats.matched == 2 and det.stats.detections == 2


def test_an_event_without_time_still_alerts_at_time_zero() -> None:
    det = detector(SSH_FAIL)
    [d] = det.feed_event(5, {"process": {"name": "sshd"}, "event": {"outcome": "failure"}})
    assert (d.first_seen, d.last_seen, d.group) == (0.0, 0.0, ())
    assert d.summary == "ssh failure"
    assert det.stats.untimed == 1


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b"\xff\xfe", b"", b"{"])
def test_entries_that_are_not_json_objects_are_counted_not_raised(raw: bytes) -> None:
    det = detector(SSH_FAIL)
    assert det.feed(0, raw) == []
    assert det.feed(1, ssh(1)) != []
    assert (det.stats.events, det.stats.unparsable) == (2, 1)


def test_logsource_conditions_always_apply() -> None:
    windows = SSH_FAIL.replace(
        "{product: linux, service: sshd}", "{product: windows, service: security}"
    )
    unmapped = SSH_OK.replace("{product: linux, service: sshd}", "{product: nosuch}")
    loaded = load_text(windows + "---\n" + unmapped, "rules.yml")
    det, problems = StreamDetector.from_load(loaded)
    assert [p.reason for p in problems] == [
        "33333333-3333-4333-8333-333333333333: logsource (product=nosuch, category=None, "
        "service=None) has no ECS mapping; the rule applies to no event"
    ]
    assert det.feed(0, ssh(1)) == []  # a Linux event: the Windows rule does not look at it
    assert det.feed(1, ssh(2, outcome="success")) == []  # nor does the unmapped one
    win = {"winlog": {"channel": "Security"}, "event": {"outcome": "failure"}}
    assert [d.rule for d in det.feed_event(2, win)] == ["11111111-1111-4111-8111-111111111111"]


def test_a_correlation_lists_every_event_and_generate_false_silences_its_rules() -> None:
    det = detector(SSH_FAIL, BURST)
    out = [d for i, s in enumerate((1, 2, 3, 4)) for d in det.feed(100 + i, ssh(s, "192.0.2.9"))]
    out += [d for d in det.feed(104, ssh(5, "192.0.2.1"))]  # another source: another group
    out += det.feed(105, ssh(6, "192.0.2.9"))
    out += det.flush()
    [d] = out  # the failures themselves do not alert: only the burst does (generate: false)
    assert d.correlation and d.rule == "22222222-2222-4222-8222-222222222222"
    assert d.events == (100, 101, 102)
    assert (d.title, d.severity, d.clauses) == ("ssh failure burst", "critical", ("SEC-5",))
    assert d.group == (("source.ip", "192.0.2.9"),) and d.fields == {"source.ip": "192.0.2.9"}
    assert d.summary == "ssh failure burst: source.ip=192.0.2.9"
    first, last = (event_time({"@timestamp": f"2026-11-27T10:00:0{s}.25Z"}) for s in (1, 3))
    assert (d.first_seen, d.last_seen) == (first, last)
    assert det.stats.correlations == 1


def test_generate_true_keeps_the_base_detections() -> None:
    det = detector(
        SSH_FAIL, BURST.replace("  type: event_count", "  type: event_count\n  generate: true")
    )
    out = [d for i in range(3) for d in det.feed(i, ssh(i))]
    assert [(d.correlation, d.events) for d in out] == [
        (False, (0,)),
        (False, (1,)),
        (False, (2,)),
        (True, (0, 1, 2)),
    ]


def test_a_closing_window_fires_on_flush_or_tick() -> None:
    rare = BURST.replace("condition: {gte: 3}", "condition: {lt: 2}")
    det = detector(SSH_FAIL, rare)
    assert det.feed(7, ssh(1)) == []
    assert det.tick(event_time({"@timestamp": "2026-11-27T10:04:00Z"}) or 0) == []  # still open
    [d] = det.tick(event_time({"@timestamp": "2026-11-27T10:06:00Z"}) or 0)
    assert d.events == (7,) and det.flush() == []
    det = detector(SSH_FAIL, rare)
    det.feed(8, ssh(1))
    assert [d.events for d in det.flush()] == [(8,)]


def test_correlation_rules_the_stream_cannot_use_are_problems() -> None:
    sum_rule = BURST.replace("type: event_count", "type: value_sum").replace(
        "condition: {gte: 3}", "condition: {gte: 3, field: source.port}"
    )
    loaded = load_text(SSH_FAIL + "---\n" + sum_rule, "rules.yml")
    det, problems = StreamDetector.from_load(loaded)
    assert len(problems) == 1 and "value_sum is not supported" in problems[0].reason
    assert [d.rule for d in det.feed(0, ssh(1))] == ["11111111-1111-4111-8111-111111111111"]


def test_enrichment_runs_before_the_rules() -> None:
    off_hours = textwrap.dedent("""\
        title: sshd outside business time
        id: 44444444-4444-4444-8444-444444444444
        logsource: {product: linux, service: sshd}
        detection:
          sel: {mamori.calendar.business: false}
          condition: sel
        """)
    sunday = canonical(  # 2026-03-01 is a Sunday; 03:00 UTC is noon in Tokyo
        {"@timestamp": "2026-03-01T03:00:00Z", "log": {"syslog": {"appname": "sshd"}}}
    )
    monday = sunday.replace(b"2026-03-01", b"2026-03-02")
    enricher = Enricher(BusinessCalendar())
    det = detector(off_hours, enricher=enricher)
    [d] = det.feed(0, sunday)
    assert d.rule == "44444444-4444-4444-8444-444444444444"
    assert det.feed(1, monday) == []
    assert detector(off_hours).feed(0, sunday) == []  # without enrichment the field is absent


def test_rules_sharing_an_id_keep_their_own_level() -> None:
    # Regression: the first stream keyed rule metadata by id, so a second file's rule with the
    # same id alerted with the first one's title and level.
    other = SSH_FAIL.replace("title: ssh failure", "title: copy").replace(
        "level: high", "level: low"
    )
    det = detector(SSH_FAIL, other)
    out = det.feed(0, ssh(1))
    assert [(d.title, d.severity) for d in out] == [("ssh failure", "high"), ("copy", "low")]


def test_the_stream_agrees_with_detect_test() -> None:
    """Same rules, same events: the stream finds what `mamori detect test --match-logsource`
    finds, base and correlation matches alike."""
    loaded = load_text(
        "\n---\n".join([SSH_FAIL, SSH_OK, BURST.replace("gte: 3", "gte: 2")]), "rules.yml"
    )
    rng = random.Random(4)
    blobs = [
        ssh(s, rng.choice(["192.0.2.1", "192.0.2.2"]), outcome=rng.choice(["failure", "success"]))
        for s in sorted(rng.randrange(60) for _ in range(80))
    ]
    det, _ = StreamDetector.from_load(loaded)
    got = [(d.rule, d.events) for i, b in enumerate(blobs) for d in det.feed(i, b)]
    got += [(d.rule, d.events) for d in det.flush()]
    events = [(i, orjson.loads(b)) for i, b in enumerate(blobs)]
    want = [(m.rule, m.events) for m in detect_test(loaded, events, match_logsource=True).matches]
    assert sorted(got) == sorted(want) and got


# ---- the prefilter --------------------------------------------------------------------------

OMIT = object()
ODD = {"s": "ſ", "i": "ı", "k": "\u212a"}
"""Characters case-insensitive regular expressions match where str.lower() does not."""


def _items(d: SigmaDetection | SigmaDetectionItem) -> Iterator[SigmaDetectionItem]:
    if isinstance(d, SigmaDetectionItem):
        yield d
    else:
        for x in d.detection_items:
            yield from _items(x)


def _value(v: SigmaType, rng: random.Random) -> Any:
    """A value near `v`: often satisfying it, sometimes not, in varied types and case."""
    if isinstance(v, SigmaExpansion):
        return _value(rng.choice(v.values), rng)
    if isinstance(v, SigmaString):
        text = "".join(
            p
            if isinstance(p, str)
            else rng.choice(["", "x", "/ab"])
            if p is SpecialChars.WILDCARD_MULTI
            else "z"
            for p in v.s
        )
        r = rng.random()
        if r < 0.2:
            text = text.upper()
        elif r < 0.3:
            text = "".join(ODD.get(c, c) if rng.random() < 0.5 else c for c in text)
        elif r < 0.4:
            text = text[1:] + rng.choice(["", "q"])
        elif r < 0.5:
            text = rng.choice(["pre ", ""]) + text + rng.choice([" post", ""])
        return [text, "other"] if rng.random() < 0.1 else text
    if isinstance(v, SigmaNumber):
        n = v.number
        return rng.choice([n, str(n), float(n), n + 1, [n], True])
    if isinstance(v, SigmaBool):
        return rng.choice([v.boolean, str(v.boolean).upper(), "yes"])
    if isinstance(v, SigmaRegularExpression):
        return str(v.regexp).strip("^$").replace("\\", "")
    return rng.choice(["x", 1, None])


def _events(rules: list[SigmaRule], n: int, seed: int) -> Iterator[dict[str, Any]]:
    """Flat events laid from the rules' own values, with logsource fields of every kind."""
    rng = random.Random(seed)
    base: list[dict[str, Any]] = [
        {"event.category": "process"},
        {"event.category": ["network", "web"]},
        {"event.module": "auditd"},
        {"winlog.channel": "security"},
        {"log.syslog.appname": "sshd"},
        {},
    ]
    for _ in range(n):
        ev: dict[str, Any] = dict(rng.choice(base))
        for rule in rng.sample(rules, k=min(len(rules), rng.choice([1, 1, 2]))):
            dets = list(rule.detection.detections.values())
            for d in rng.sample(dets, k=rng.randint(1, len(dets))):
                for item in _items(d):
                    if not item.value or rng.random() < 0.1:
                        continue
                    name = item.field or rng.choice(["message", "event.original"])
                    if rng.random() < 0.5:
                        name = ECS_FIELDS.get(name, name)
                    x = _value(rng.choice(item.value), rng)
                    prev = ev.get(name)
                    if isinstance(prev, str) and isinstance(x, str) and rng.random() < 0.5:
                        x = prev + x
                    ev[name] = x
        yield ev


def _engines(loaded: LoadResult, fields: dict[str, str]) -> list[Engine]:
    built = build_engine(loaded, fields=fields)
    return [built.engine, built.engine.with_logsource()]


def _agree(engines: list[Engine], events: Iterator[dict[str, Any]]) -> int:
    """Events on which some rule matched; fails on the first disagreement."""
    hits = 0
    for flat in events:
        for engine in engines:
            fast = [r.id for r in engine.matching_flat(flat)]
            plain = [r.id for r in engine.matching_plain(flat)]
            assert fast == plain, (flat, fast, plain)
            hits += bool(plain)
    return hits


def test_the_prefilter_finds_every_match_of_the_builtin_rules() -> None:
    loaded = load_paths([BUILTIN_DIR])
    events = _events(loaded.rules, 3000, seed=11)
    assert _agree(_engines(loaded, dict(ECS_FIELDS)) + _engines(loaded, {}), events) > 300


def test_the_prefilter_finds_every_match_of_the_shared_sigma_rules() -> None:
    loaded = load_paths([shared_data("sigma", "rules")])
    events = _events(loaded.rules, 4000, seed=12)
    assert _agree(_engines(loaded, dict(ECS_FIELDS)) + _engines(loaded, {}), events) > 300


HINT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("integral number, int event", {"a": 3}, {"a": 3}),
    ("integral number, float event", {"a": 3}, {"a": 3.0}),
    ("integral number written as a float", {"a": 3.0}, {"a": 3}),
    ("number, string event", {"a": 3}, {"a": "3"}),
    ("number, list event", {"a": 3}, {"a": ["x", [3]]}),
    ("fraction", {"a": 2.5}, {"a": 2.5}),
    ("boolean, text event", {"a": True}, {"a": "TRUE"}),
    ("string, number event", {"a": "7"}, {"a": 7}),
    ("string, boolean event", {"a": "false"}, {"a": False}),
    ("empty string", {"a": ""}, {"a": ""}),
    ("anything", {"a": "*"}, {"a": 5}),
    ("prefix, cased", {"a|startswith|cased": "Ab"}, {"a": "Abc"}),
    ("suffix with a final sigma, cased", {"a|endswith|cased": "Σ"}, {"a": "aΣ"}),
    ("prefix ending in sigma, cased", {"a|startswith|cased": "aΣ"}, {"a": "aΣb"}),
    ("long s under a wildcard", {"a": "ſ?"}, {"a": "SZ"}),
    ("s under a wildcard, long s in the event", {"a": "s?x"}, {"a": "ſzx"}),
    ("dotless i under a wildcard", {"a": "*i*x"}, {"a": "ıyx"}),
    ("dotted capital I", {"a": "b?İ"}, {"a": "bzi"}),
    ("Kelvin sign", {"a": "k?"}, {"a": "\u212az"}),
    ("keyword with a wildcard", {"keywords": ["ſ?"]}, {"message": "SZ"}),
    ("keywords, globs", {"keywords": ["abc", "d*e"]}, {"message": "xxDxxEx"}),
    ("keywords in event.original", {"keywords": ["abc", "def"]}, {"event.original": "ABC"}),
    ("keyword number", {"keywords": [42]}, {"message": "x42x"}),
    ("regular expression", {"a|re": "^x"}, {"a": "xy"}),
    ("nested list event", {"a|contains": "bc"}, {"a": [["ABCD"]]}),
]


@pytest.mark.parametrize(
    ("detection", "event"), [c[1:] for c in HINT_CASES], ids=[c[0] for c in HINT_CASES]
)
def test_the_prefilter_keeps_edge_cases(detection: dict[str, Any], event: dict[str, Any]) -> None:
    sels = {k: v for k, v in detection.items() if k != "keywords"}
    det: dict[str, Any] = {"sel": sels} if sels else {"sel": detection["keywords"]}
    rule = rule_from({**det, "condition": "sel"})
    assert rule.match(event)
    _check_hints(rule, event)
    engine = Engine([rule])
    assert engine.matching_flat(event) == [rule]


def _check_hints(rule: CompiledRule, flat: dict[str, Any]) -> None:
    """A rule that matches satisfies its hints (the engine's index relies on nothing else)."""
    if not rule.match(flat):
        return
    for group in rule.hints.anchors:
        assert any(a.holds(flat.get(a.field)) for a in group if flat.get(a.field) is not None)
    if rule.hints.needs is not None:
        assert any(flat.get(f) is not None for f in rule.hints.needs)


MODIFIERS = ["", "|contains", "|startswith", "|endswith", "|cased", "|contains|all", "|re", "|re|i"]
# Letters whose case rules trip up naive lowering: ſ and ı (regular expressions fold them to s
# and i), the Kelvin sign, İ (lowers to two characters), Σ (lowers to ς at the end of a word).
TEXT = st.text(alphabet="aAsSiIkK*?.ſı\u212aİΣ/ 0", max_size=6)
VALUE = st.one_of(
    TEXT, st.integers(-3, 3), st.sampled_from([1.0, 2.5, -0.0]), st.booleans(), st.none()
)
EVENT_VALUE = st.one_of(
    TEXT,
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.booleans(),
    st.lists(TEXT, max_size=2),
)
FOLDS = [
    str.upper,
    str.lower,
    lambda t: t.translate(str.maketrans("sSiIkK", "ſſııKK")),
    lambda t: t.replace("Σ", "Σa").replace("i", "İ"),
]


@st.composite
def near(draw: st.DrawFn, value: Any) -> Any:
    """An event value made from a rule's value: wildcards filled, case and types varied."""
    if isinstance(value, list):
        return draw(near(draw(st.sampled_from(value))))
    if isinstance(value, bool) or value is None:
        return draw(st.sampled_from([value, str(value), str(value).upper()]))
    if isinstance(value, int | float):
        return draw(st.sampled_from([value, float(value), str(value), int(value), [value]]))
    text = "".join(
        draw(st.sampled_from(["", "Σ", "xs"])) if c == "*" else "z" if c == "?" else c
        for c in value
    )
    for fold in draw(st.lists(st.sampled_from(FOLDS), max_size=2)):
        text = fold(text)
    return draw(st.sampled_from([text, "q" + text, text + "Σb", [text, "other"]]))


ITEM = st.one_of(  # modifiers take text; plain fields any value
    st.tuples(
        st.sampled_from(["a", "b"]), st.one_of(VALUE, st.lists(VALUE, min_size=1, max_size=3))
    ),
    st.tuples(
        st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(MODIFIERS[1:])).map("".join),
        st.one_of(TEXT, st.lists(TEXT, min_size=1, max_size=3)),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    selections=st.lists(st.lists(ITEM, min_size=1, max_size=2).map(dict), min_size=1, max_size=3),
    keywords=st.lists(TEXT, max_size=3),
    condition=st.sampled_from(["all of sel*", "1 of sel*", "sel0 and not 1 of sel*", "1 of them"]),
    data=st.data(),
)
def test_hints_are_necessary_conditions(
    selections: list[dict[str, Any]],
    keywords: list[str],
    condition: str,
    data: st.DataObject,
) -> None:
    detection: dict[str, Any] = {f"sel{i}": s for i, s in enumerate(selections)}
    if keywords:
        detection["keywords"] = keywords
    detection["condition"] = condition
    doc = {
        "title": "t",
        "id": "00000000-0000-4000-8000-000000000001",
        "logsource": {"product": "linux"},
    }
    loaded = load_text(yaml.safe_dump({**doc, "detection": detection}), "t.yml")
    if loaded.problems:
        return  # pySigma refuses the combination (e.g. |re on a number)
    try:
        rule = compile_rule(loaded.rules[0], {})
    except DetectError:  # what the evaluator refuses is tested elsewhere
        return
    values: dict[str, list[Any]] = {"message": list(keywords) or [""]}
    for sel in selections:
        for key, v in sel.items():
            values.setdefault(key.split("|")[0], []).append(v)
    engine = Engine([rule])
    for _ in range(4):
        ev = {
            f: data.draw(st.one_of(near(vs), near(vs), EVENT_VALUE))
            for f, vs in values.items()
            if data.draw(st.integers(0, 4))
        }
        _check_hints(rule, ev)
        assert engine.matching_flat(ev) == engine.matching_plain(ev)


def test_the_fast_time_path_reads_what_the_slow_one_reads() -> None:
    rng = random.Random(2)
    for _ in range(5000):
        when = dt.datetime.fromtimestamp(rng.randrange(0, 4 * 10**9), dt.UTC)
        us = rng.randrange(10**6)
        digits = rng.randint(0, 6)
        text = when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{us:06d}"[: digits + 1] if digits else "")
        fast = event_time({"@timestamp": text + "Z"})
        slow = event_time({"@timestamp": text + "+00:00"})
        assert fast == slow, text
    for odd in ("2026-02-30T00:00:00Z", "2026-03-02T24:00:00Z", "2026-03-02T00:00:00.١Z"):
        assert event_time({"@timestamp": odd}) is None
