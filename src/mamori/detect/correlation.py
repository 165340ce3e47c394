"""Sigma correlation rules over a stream of base-rule matches: pure, streaming, bounded memory.

The rule engine hands every base-rule match to :meth:`CorrelationEngine.feed` as a
:class:`BaseMatch`; the engine keeps one sliding window per correlation rule and group-by key and
returns a :class:`CorrelationMatch` whenever a correlation fires. The Sigma correlation
specification (v2, "Correlation Types") defines what is counted; where it leaves the choice to
the backend, mamori decides as follows (docs/detection-correlation.md has examples):

* Window: events whose timestamps are at most `timespan` apart share a window — inclusive, so two
  events exactly `timespan` seconds apart correlate and `timespan + ε` apart do not.
* Eager conditions (`gt`, `gte`; temporal types by default) are evaluated on each arriving match;
  the correlation fires the first time the condition holds, reporting every event in the window,
  and the group's window is then emptied, so the next match starts afresh instead of re-firing.
* Closing conditions (any `lt`, `lte`, `eq` or `neq`) can only be judged once the window is over:
  the window opens at the group's first match, closes `timespan` later, and is evaluated when time
  passes its end — on a later :meth:`~CorrelationEngine.feed` or on
  :meth:`~CorrelationEngine.flush`. `flush()` without a time ends the stream and closes them all.
* Time is the newest timestamp seen (the watermark). A match older than watermark − timespan is
  late: dropped and counted. Later matches inside that bound are placed in timestamp order.
* Memory: state older than watermark − timespan is discarded as time advances, and each
  correlation keeps at most `max_groups` groups, evicting the least recently used (counted).
* Chaining: a correlation's match is fed back as a match of that correlation (its id and name),
  with the group-by values as its fields, into the correlations that reference it.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from mamori.detect.errors import DetectError

if TYPE_CHECKING:
    from sigma.correlations import SigmaCorrelationRule

DEFAULT_MAX_GROUPS = 100_000
"""Groups kept per correlation rule before the least recently used is evicted."""


class CorrelationType(enum.Enum):
    """The correlation types of the Sigma specification that mamori evaluates."""

    EVENT_COUNT = "event_count"
    VALUE_COUNT = "value_count"
    TEMPORAL = "temporal"
    TEMPORAL_ORDERED = "temporal_ordered"


class Operator(enum.Enum):
    """A condition's comparison."""

    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    EQ = "eq"
    NEQ = "neq"


@dataclass(frozen=True, slots=True)
class Condition:
    """One comparison of the window's count with a number; a spec ANDs several (a range)."""

    op: Operator
    count: int

    @property
    def eager(self) -> bool:
        """True when a growing window can only make the condition truer (gt, gte)."""
        match self.op:
            case Operator.GT | Operator.GTE:
                return True
            case Operator.LT | Operator.LTE | Operator.EQ | Operator.NEQ:
                return False
            case _:
                assert_never(self.op)

    def holds(self, n: int) -> bool:
        """Whether a window counting `n` satisfies the condition."""
        match self.op:
            case Operator.GT:
                return n > self.count
            case Operator.GTE:
                return n >= self.count
            case Operator.LT:
                return n < self.count
            case Operator.LTE:
                return n <= self.count
            case Operator.EQ:
                return n == self.count
            case Operator.NEQ:
                return n != self.count
            case _:
                assert_never(self.op)


@dataclass(frozen=True, slots=True)
class CorrelationSpec:
    """One correlation rule, as the engine needs it."""

    id: str
    """The Sigma `id` (or the `name` when there is no id); reported in every match."""
    type: CorrelationType
    rules: tuple[str, ...]
    """The referenced rules (base or correlation), each by Sigma id or name, as written."""
    timespan: float
    """Seconds; matches at most this far apart share a window (inclusive)."""
    group_by: tuple[str, ...] = ()
    """Field (or alias) names; no group-by puts every match in one group."""
    conditions: tuple[Condition, ...] = ()
    """ANDed; empty means the default, which only temporal types have: all rules matched."""
    value_field: str | None = None
    """The field whose distinct values value_count counts (`condition.field`; may be an alias)."""
    aliases: Mapping[str, Mapping[str, str]] = field(default_factory=dict, hash=False)
    """alias → {referenced rule (as in `rules`) → that rule's field name}."""
    generate: bool = False
    """Whether the referenced rules also alert on their own (Sigma `generate`)."""
    name: str | None = None
    """The Sigma `name`, by which other correlations may reference this one."""

    def __post_init__(self) -> None:
        where = f"correlation rule {self.id!r}"
        if not self.rules:
            raise DetectError(f"{where} references no rules", hint="list them under `rules`")
        if len(set(self.rules)) != len(self.rules):
            raise DetectError(f"{where} lists a referenced rule twice")
        if not (self.timespan > 0 and math.isfinite(self.timespan)):
            raise DetectError(f"{where} has timespan {self.timespan!r}: it must be positive")
        if self.type is CorrelationType.VALUE_COUNT and not self.value_field:
            raise DetectError(
                f"{where} is a value_count without a field", hint="add `field:` to the condition"
            )
        is_temporal = self.type in (CorrelationType.TEMPORAL, CorrelationType.TEMPORAL_ORDERED)
        if not self.conditions and not is_temporal:
            raise DetectError(f"{where} has no condition", hint="add e.g. `condition: {gte: 10}`")
        if self.type is CorrelationType.TEMPORAL_ORDERED and self.conditions not in (
            (),
            (Condition(Operator.GTE, len(self.rules)),),
        ):
            raise DetectError(
                f"{where}: temporal_ordered needs every rule in order; mamori does not "
                "support another condition on it",
                hint="drop the condition or use type temporal",
            )

    @property
    def refs(self) -> frozenset[str]:
        """The strings other correlations may use to reference this one."""
        return frozenset(r for r in (self.id, self.name) if r)

    @property
    def effective_conditions(self) -> tuple[Condition, ...]:
        """The conditions, with the temporal default (all referenced rules) filled in."""
        return self.conditions or (Condition(Operator.GTE, len(self.rules)),)

    @property
    def closing(self) -> bool:
        """True when the condition is only judged once the window has closed."""
        return not all(c.eager for c in self.effective_conditions)

    @classmethod
    def from_sigma(cls, rule: SigmaCorrelationRule) -> CorrelationSpec:
        """The spec of a pySigma correlation rule; unsupported features raise DetectError."""
        from sigma.correlations import SigmaCorrelationCondition

        ident = str(rule.id) if rule.id else rule.name
        if not ident:
            raise DetectError(f"correlation rule {rule.title!r} has neither an id nor a name")
        where = f"correlation rule {ident!r}"
        try:
            kind = CorrelationType(str(rule.type))
        except ValueError:
            raise DetectError(
                f"{where}: correlation type {rule.type} is not supported",
                hint="use event_count, value_count, temporal or temporal_ordered",
            ) from None
        cond = rule.condition
        if not isinstance(cond, SigmaCorrelationCondition):
            raise DetectError(
                f"{where}: extended (boolean) correlation conditions are not supported"
            )
        if cond.fieldref is not None and not isinstance(cond.fieldref, str):
            raise DetectError(f"{where}: the condition's field must be one field name")
        return cls(
            id=ident,
            type=kind,
            rules=tuple(r.reference for r in rule.rules or ()),
            timespan=float(rule.timespan.seconds),
            group_by=tuple(rule.group_by or ()),
            conditions=(Condition(Operator(cond.op.name.lower()), cond.count),),
            value_field=cond.fieldref,
            aliases={
                alias.alias: {ref.reference: name for ref, name in alias.mapping.items()}
                for alias in rule.aliases
            },
            generate=rule.generate,
            name=rule.name,
        )


@dataclass(frozen=True, slots=True)
class BaseMatch:
    """One event matched by one rule, as the rule engine hands it over."""

    rule_ref: str
    """The rule's Sigma id (or name when it has no id)."""
    timestamp: float
    """The event's time, seconds since the epoch."""
    event_id: int
    """Line number (0-based) or ledger index of the event."""
    fields: Mapping[str, Any]
    """The event; dotted names are looked up flat first, then through nested mappings."""
    rule_name: str | None = None
    """The rule's Sigma name, so correlations referencing it by name see it too."""


@dataclass(frozen=True, slots=True)
class CorrelationMatch:
    """A correlation rule fired."""

    rule: str
    """The correlation's :attr:`CorrelationSpec.id`."""
    group: tuple[tuple[str, Any], ...]
    """The group-by names and their values."""
    event_ids: tuple[int, ...]
    """Every event that made the match, in time order (through chained correlations too)."""
    first: float
    last: float
    standalone: bool = True
    """False when only correlations with `generate: false` reference this one: not an alert."""


@dataclass(slots=True)
class EngineStats:
    """Counters for monitoring."""

    late: int = 0
    """Matches dropped for being older than watermark − timespan."""
    evicted: int = 0
    """Groups dropped because a correlation reached `max_groups`."""
    expired: int = 0
    """Groups discarded because time moved past their window."""
    fired: int = 0


@dataclass(slots=True)
class _Hit:
    t: float
    seq: int
    pos: int
    event_ids: tuple[int, ...]
    value: Any


@dataclass(slots=True)
class _Group:
    opened: float
    newest: float
    hits: list[_Hit] = field(default_factory=list)


class CorrelationEngine:
    """Evaluates correlation rules over base-rule matches fed in roughly time order."""

    def __init__(
        self, rules: Sequence[CorrelationSpec], *, max_groups: int = DEFAULT_MAX_GROUPS
    ) -> None:
        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.specs = tuple(rules)
        self.max_groups = max_groups
        self.stats = EngineStats()
        self.watermark = -math.inf
        self._seq = 0
        self._index: dict[str, list[tuple[int, int]]] = {}
        owners: dict[str, int] = {}
        for i, spec in enumerate(self.specs):
            for ref in spec.refs:
                if ref in owners:
                    raise DetectError(f"two correlation rules are both called {ref!r}")
                owners[ref] = i
            for pos, ref in enumerate(spec.rules):
                self._index.setdefault(ref, []).append((i, pos))
        _refuse_cycles(self.specs, owners)
        self._standalone = {
            ref: any(self.specs[i].generate for i, _ in targets)
            for ref, targets in self._index.items()
        }
        self._groups: list[OrderedDict[tuple[Any, ...], _Group]] = [
            OrderedDict() for _ in self.specs
        ]

    def is_standalone(self, ref: str) -> bool:
        """Whether matches of rule `ref` alert on their own (see Sigma's `generate`)."""
        return self._standalone.get(ref, True)

    @property
    def group_count(self) -> int:
        """Groups held now, over every correlation."""
        return sum(len(g) for g in self._groups)

    def feed(self, match: BaseMatch) -> list[CorrelationMatch]:
        """Take one base-rule match; return the correlations it (or time passing) fired."""
        out = self._advance(match.timestamp)
        refs = [match.rule_ref]
        if match.rule_name and match.rule_name != match.rule_ref:
            refs.append(match.rule_name)
        out += self._dispatch(refs, match.timestamp, (match.event_id,), match.fields, chained=False)
        return out

    def flush(self, now: float | None = None) -> list[CorrelationMatch]:
        """Let time pass to `now` (closing windows that ended); without `now`, end the stream.

        Ending the stream judges every open window of a closing condition (lt, lte, eq, neq).
        """
        if now is not None:
            return self._advance(now)
        out: list[CorrelationMatch] = []
        for i, spec in enumerate(self.specs):
            if spec.closing:
                groups = self._groups[i]
                while groups:
                    key, group = groups.popitem(last=False)
                    out += self._judge(i, key, group)
        return out

    # ---- internals -----------------------------------------------------------------------

    def _advance(self, now: float) -> list[CorrelationMatch]:
        if now <= self.watermark:
            return []
        self.watermark = now
        out: list[CorrelationMatch] = []
        for i, spec in enumerate(self.specs):
            groups = self._groups[i]
            horizon = now - spec.timespan
            # Closing specs keep creation order, eager ones recency order: in a stream in time
            # order the front is the oldest either way, so stop at the first one still alive.
            while groups:
                key, group = next(iter(groups.items()))
                if spec.closing:
                    if group.opened >= horizon:
                        break
                    del groups[key]
                    out += self._judge(i, key, group)
                else:
                    if group.newest >= horizon:
                        break
                    del groups[key]
                    self.stats.expired += 1
        return out

    def _dispatch(
        self,
        refs: Iterable[str],
        t: float,
        event_ids: tuple[int, ...],
        fields: Mapping[str, Any],
        *,
        chained: bool,
    ) -> list[CorrelationMatch]:
        out: list[CorrelationMatch] = []
        seen: set[int] = set()
        for ref in refs:
            for i, pos in self._index.get(ref, ()):
                if i in seen:
                    continue
                seen.add(i)
                for fired in self._add(i, pos, t, event_ids, fields, chained=chained):
                    out += self._emit(i, fired)
        return out

    def _emit(self, i: int, fired: CorrelationMatch) -> list[CorrelationMatch]:
        self.stats.fired += 1
        spec = self.specs[i]
        out = [fired]
        out += self._dispatch(
            spec.refs, fired.last, fired.event_ids, dict(fired.group), chained=True
        )
        return out

    def _add(
        self,
        i: int,
        pos: int,
        t: float,
        event_ids: tuple[int, ...],
        fields: Mapping[str, Any],
        *,
        chained: bool,
    ) -> list[CorrelationMatch]:
        spec = self.specs[i]
        # A chained match is as old as its last event, which may already be behind the
        # watermark when a closing window produced it: it is not late, so it is not dropped.
        if not chained and t < self.watermark - spec.timespan:
            self.stats.late += 1
            return []
        ref = spec.rules[pos]
        value: Any = None
        if spec.type is CorrelationType.VALUE_COUNT:
            assert spec.value_field is not None
            value = _hashable(_get(fields, _resolve(spec, spec.value_field, ref)))
            if value is None:  # like SQL COUNT(DISTINCT …), a missing value is not a value
                return []
        key = tuple(_hashable(_get(fields, _resolve(spec, g, ref))) for g in spec.group_by)
        out: list[CorrelationMatch] = []
        groups = self._groups[i]
        group = groups.get(key)
        if group is not None and spec.closing and group.opened + spec.timespan < t:
            # An out-of-order stream can leave an ended window behind the front: judge it now.
            del groups[key]
            ended = self._made(spec, group.hits)
            if ended is None:
                self.stats.expired += 1
            else:
                out.append(self._match(spec, key, ended))
            group = None
        if group is None:
            if len(groups) >= self.max_groups:
                groups.popitem(last=False)
                self.stats.evicted += 1
            group = groups[key] = _Group(opened=t, newest=t)
        elif not spec.closing:
            groups.move_to_end(key)
        self._seq += 1
        bisect.insort(group.hits, _Hit(t, self._seq, pos, event_ids, value), key=_order)
        if spec.closing:
            return out
        group.newest = max(group.newest, t)
        horizon = group.newest - spec.timespan
        drop = 0
        while drop < len(group.hits) and group.hits[drop].t < horizon:
            drop += 1
        del group.hits[:drop]
        made = self._made(spec, group.hits)
        if made is not None:
            del groups[key]
            out.append(self._match(spec, key, made))
        return out

    def _made(self, spec: CorrelationSpec, hits: list[_Hit]) -> list[_Hit] | None:
        """The hits that make the match when the condition holds over `hits`, else None."""
        if spec.type is CorrelationType.TEMPORAL_ORDERED:
            chosen: list[_Hit] = []
            for hit in hits:  # greedy: the earliest hit of each rule after the previous one
                if hit.pos == len(chosen):
                    chosen.append(hit)
                    if len(chosen) == len(spec.rules):
                        return chosen
            return None
        n = _measure(spec, hits)
        if all(c.holds(n) for c in spec.effective_conditions):
            return hits
        return None

    def _judge(self, i: int, key: tuple[Any, ...], group: _Group) -> list[CorrelationMatch]:
        """A closing window ended: fire if its condition holds."""
        spec = self.specs[i]
        made = self._made(spec, group.hits)
        if made is None:
            self.stats.expired += 1
            return []
        return self._emit(i, self._match(spec, key, made))

    def _match(
        self, spec: CorrelationSpec, key: tuple[Any, ...], made: list[_Hit]
    ) -> CorrelationMatch:
        ids: list[int] = []
        for hit in made:
            ids.extend(hit.event_ids)
        return CorrelationMatch(
            rule=spec.id,
            group=tuple(zip(spec.group_by, key, strict=True)),
            event_ids=tuple(ids),
            first=made[0].t,
            last=made[-1].t,
            standalone=all(self.is_standalone(r) for r in spec.refs),
        )


def _order(hit: _Hit) -> tuple[float, int]:
    return (hit.t, hit.seq)


def _measure(spec: CorrelationSpec, hits: list[_Hit]) -> int:
    match spec.type:
        case CorrelationType.EVENT_COUNT:
            return len(hits)
        case CorrelationType.VALUE_COUNT:
            return len({h.value for h in hits})
        case CorrelationType.TEMPORAL | CorrelationType.TEMPORAL_ORDERED:
            return len({h.pos for h in hits})
        case _:
            assert_never(spec.type)


def _resolve(spec: CorrelationSpec, name: str, ref: str) -> str:
    """The field that group-by (or value) name `name` means in events of rule `ref`."""
    alias = spec.aliases.get(name)
    if alias is not None:
        return alias.get(ref, name)
    return name


def _get(fields: Mapping[str, Any], name: str) -> Any:
    if name in fields:
        return fields[name]
    node: Any = fields
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


def _refuse_cycles(specs: Sequence[CorrelationSpec], owners: Mapping[str, int]) -> None:
    """A correlation that (through others) references itself would feed itself forever."""
    state = [0] * len(specs)  # 0 unvisited, 1 on the path, 2 done

    def visit(i: int) -> None:
        state[i] = 1
        for ref in specs[i].rules:
            j = owners.get(ref)
            if j is None:
                continue
            if state[j] == 1:
                raise DetectError(
                    f"correlation rule {specs[i].id!r} references {ref!r}, which leads back to it",
                    hint="correlation chains must not loop",
                )
            if state[j] == 0:
                visit(j)
        state[i] = 2

    for i in range(len(specs)):
        if state[i] == 0:
            visit(i)
