"""Running compiled rules over events: the core of `mamori detect test` and the live engine.

Takes values, does no I/O: rules in, events in, matches out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from mamori.detect.compile import CompiledRule, compile_rule, flatten
from mamori.detect.ecs import ECS_FIELDS, LogsourceCondition
from mamori.detect.errors import DetectError
from mamori.detect.prefilter import Prefilter
from mamori.detect.rules import LoadProblem, LoadResult


@dataclass(frozen=True)
class Match:
    """A rule that matched, with the events (0-based positions in the input) that made it."""

    rule: str
    """The rule's Sigma id."""
    events: tuple[int, ...]
    """For a base rule, one event; for a correlation, every event that made it."""

    def to_json(self) -> dict[str, Any]:
        """The form `mamori detect test` prints."""
        return {"rule": self.rule, "events": list(self.events)}


@dataclass
class Engine:
    """Compiled base rules. ``match_logsource``: apply each rule only to events its logsource's
    ECS condition accepts (a rule whose logsource mamori cannot map then applies to none)."""

    rules: Sequence[CompiledRule]
    match_logsource: bool = False
    _applicable: tuple[CompiledRule, ...] = field(init=False, repr=False, compare=False)
    _slots: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _conditions: tuple[LogsourceCondition, ...] = field(init=False, repr=False, compare=False)
    _prefilter: Prefilter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        applicable = [r for r in self.rules if not self.match_logsource or r.logsource is not None]
        # Rules of one logsource share its condition: one test per condition and event.
        slots: list[int] = []
        conditions: list[LogsourceCondition] = []
        by_id: dict[int, int] = {}
        for r in applicable:
            if not self.match_logsource or r.logsource is None:
                slots.append(-1)
                continue
            slot = by_id.setdefault(id(r.logsource), len(conditions))
            if slot == len(conditions):
                conditions.append(r.logsource)
            slots.append(slot)
        self._applicable = tuple(applicable)
        self._slots = tuple(slots)
        self._conditions = tuple(conditions)
        self._prefilter = Prefilter(applicable)

    def with_logsource(self) -> Engine:
        """This engine with ``match_logsource`` on."""
        return self if self.match_logsource else Engine(self.rules, True)

    def matching(self, event: Mapping[str, Any]) -> list[CompiledRule]:
        """The rules one event matches."""
        return self.matching_flat(flatten(event))

    def matching_flat(self, flat: Mapping[str, Any]) -> list[CompiledRule]:
        """The rules one flattened event matches, in rule order."""
        rules, slots, conditions = self._applicable, self._slots, self._conditions
        verdicts: dict[int, bool] = {}
        out: list[CompiledRule] = []
        for i in self._prefilter.candidates(flat):
            slot = slots[i]
            if slot >= 0:
                ok = verdicts.get(slot)
                if ok is None:
                    ok = verdicts[slot] = conditions[slot].test(flat)
                if not ok:
                    continue
            r = rules[i]
            if r.match(flat):
                out.append(r)
        return out

    def matching_plain(self, flat: Mapping[str, Any]) -> list[CompiledRule]:
        """:meth:`matching_flat` without the prefilter: every rule run (for tests)."""
        if self.match_logsource:
            return [
                r
                for r in self.rules
                if r.logsource is not None and r.logsource.test(flat) and r.match(flat)
            ]
        return [r for r in self.rules if r.match(flat)]

    def run(self, events: Iterable[Mapping[str, Any]]) -> list[Match]:
        """Every (rule, event) match, in event order then rule order."""
        out: list[Match] = []
        for i, ev in enumerate(events):
            out.extend(Match(r.id, (i,)) for r in self.matching(ev))
        return out


@dataclass
class Compiled:
    """The outcome of compiling a load: an engine and the rules that could not be compiled."""

    engine: Engine
    correlations: list[SigmaCorrelationRule]
    problems: list[LoadProblem] = field(default_factory=list)


def build_engine(
    loaded: LoadResult,
    *,
    fields: Mapping[str, str] = ECS_FIELDS,
    match_logsource: bool = False,
) -> Compiled:
    """Compile every loaded base rule; a rule that does not compile becomes a problem (with
    its file), and so, under ``match_logsource``, does one whose logsource mamori cannot map."""
    compiled: list[CompiledRule] = []
    problems = list(loaded.problems)
    for rule in loaded.rules:
        path = loaded.path_of(rule)
        try:
            c = compile_rule(rule, fields)
        except DetectError as e:
            problems.append(LoadProblem(path, f"{_rid(rule)}: {e.message}"))
            continue
        if match_logsource and c.logsource is None:
            ls = rule.logsource
            problems.append(
                LoadProblem(
                    path,
                    f"{c.id}: logsource (product={ls.product}, category={ls.category}, "
                    f"service={ls.service}) has no ECS mapping; the rule applies to no event",
                )
            )
        compiled.append(c)
    return Compiled(Engine(compiled, match_logsource), list(loaded.correlations), problems)


def _rid(rule: SigmaRule) -> str:
    return str(rule.id) if rule.id else rule.title


def correlation_matches(
    correlations: Sequence[SigmaCorrelationRule],
    matched: Sequence[tuple[int, Mapping[str, Any], Sequence[CompiledRule]]],
    *,
    fields: Mapping[str, str] = ECS_FIELDS,
) -> tuple[list[Match], list[tuple[SigmaCorrelationRule, str]], set[str]]:
    """Correlation matches over events already run through the base rules.

    `matched` holds, per event in input order, its id (line number), the event and the base
    rules it matched. Events are fed in that order with their ``@timestamp``; an event without
    a readable one cannot take part in a time window and is left out of correlations (the
    caller reports how many). Group-by and aliased fields may be written with Sigma names: they
    are looked up through the same ECS mapping as the rules. Returns the matches, the
    correlations that could not be used (with why), and the base rules that only feed
    correlations with ``generate: false`` (their own matches are not alerts).
    """
    from mamori.detect.correlation import BaseMatch, CorrelationEngine, CorrelationSpec

    specs: list[CorrelationSpec] = []
    refused: list[tuple[SigmaCorrelationRule, str]] = []
    for c in correlations:
        try:
            specs.append(CorrelationSpec.from_sigma(c))
        except DetectError as e:
            refused.append((c, e.message))
    if not specs:
        return [], refused, set()
    try:
        engine = CorrelationEngine(specs)
    except DetectError as e:
        return [], [(c, e.message) for c in correlations], set()
    out: list[Match] = []

    def take(fired: Sequence[Any]) -> None:
        out.extend(Match(m.rule, tuple(m.event_ids)) for m in fired if m.standalone)

    quiet: set[str] = set()
    for event_id, event, rules in matched:
        if not rules:
            continue
        when = event_time(event)
        if when is None:
            continue
        flat = flatten(event)
        view = dict(flat)
        for sigma_name, ecs_path in fields.items():
            if ecs_path in flat and sigma_name not in view:
                view[sigma_name] = flat[ecs_path]
        for r in rules:
            name = r.rule.name if r.rule.name else None
            take(engine.feed(BaseMatch(r.id, when, event_id, view, rule_name=name)))
            if not engine.is_standalone(r.id) or (name and not engine.is_standalone(name)):
                quiet.add(r.id)
    take(engine.flush())
    return out, refused, quiet


def event_time(event: Mapping[str, Any]) -> float | None:
    """An event's ``@timestamp`` (RFC 3339) as seconds since the epoch; None when absent or
    unreadable (a time without a zone is read as UTC)."""
    raw = event.get("@timestamp")
    if not isinstance(raw, str) or not raw:
        return None
    fast = _utc_time(raw)
    if fast is not None:
        return fast
    return _any_time(raw)


def _any_time(raw: str) -> float | None:
    import datetime as dt

    text = raw.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


_HEAD = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_SECONDS: dict[str, int] = {}
"""``YYYY-MM-DDTHH:MM:SS`` → epoch seconds, for :func:`_utc_time`; cleared when full."""
_SECONDS_MAX = 4096


def _utc_time(raw: str) -> float | None:
    """The form mamori writes, ``YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z``, without parsing it afresh
    for each event: the seconds come from a cache (events arrive in bursts within the same
    second). The result is the slow path's to the bit: both divide whole microseconds by 10⁶
    (``datetime.timestamp`` of an aware time does). None for any other form."""
    n = len(raw)
    if raw[-1:] != "Z":
        return None
    if n == 20:
        us = 0
    elif 22 <= n <= 27 and raw[19] == ".":
        frac = raw[20:-1]
        if not (frac.isascii() and frac.isdigit()):
            return None
        us = int(frac.ljust(6, "0"))
    else:
        return None
    head = raw[:19]
    secs = _SECONDS.get(head)
    if secs is None:
        if _HEAD.fullmatch(head) is None:
            return None
        whole = _any_time(head + "Z")
        if whole is None:
            return None
        secs = int(whole)
        if len(_SECONDS) >= _SECONDS_MAX:
            _SECONDS.clear()
        _SECONDS[head] = secs
    return (secs * 1_000_000 + us) / 1_000_000


@dataclass
class TestRun:
    """The outcome of :func:`detect_test`."""

    __test__ = False  # not a pytest class

    matches: list[Match]
    problems: list[LoadProblem]
    rules: int
    """How many base rules were evaluated."""


def read_events(lines: Iterable[bytes]) -> list[tuple[int, dict[str, Any]]]:
    """JSON Lines → (0-based line number, event). Blank lines are skipped but counted; any
    other line that is not a JSON object is an error naming its line."""
    import orjson

    out: list[tuple[int, dict[str, Any]]] = []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            raise DetectError(
                f"events line {n}: not JSON ({e})", hint="give one JSON object per line"
            ) from e
        if not isinstance(ev, dict):
            raise DetectError(
                f"events line {n}: not a JSON object", hint="give one JSON object per line"
            )
        out.append((n, ev))
    return out


def detect_test(
    loaded: LoadResult,
    events: Sequence[tuple[int, Mapping[str, Any]]],
    *,
    match_logsource: bool = False,
    fields: Mapping[str, str] = ECS_FIELDS,
) -> TestRun:
    """`mamori detect test`: every rule over every event, offline. Matches carry the events'
    line numbers. Correlation rules go to :func:`correlation_matches`; while no correlation
    engine is wired, each is reported as a problem rather than silently ignored."""
    built = build_engine(loaded, fields=fields, match_logsource=match_logsource)
    engine = built.engine
    per_event = [(line, ev, engine.matching(ev)) for line, ev in events]
    problems = list(built.problems)
    corr: list[Match] = []
    quiet: set[str] = set()
    if built.correlations:
        corr, refused, quiet = correlation_matches(built.correlations, per_event, fields=fields)
        problems.extend(
            LoadProblem(loaded.path_of(c), f"{c.id or c.title}: {why}") for c, why in refused
        )
        untimed = sum(1 for _l, ev, rules in per_event if rules and event_time(ev) is None)
        if untimed:
            problems.append(
                LoadProblem(
                    "(events)",
                    f"{untimed} matching event(s) have no readable @timestamp and took no part "
                    "in correlations",
                )
            )
    matches = [
        Match(r.id, (line,)) for line, _ev, rules in per_event for r in rules if r.id not in quiet
    ]
    matches.extend(corr)
    return TestRun(matches, problems, len(engine.rules))
