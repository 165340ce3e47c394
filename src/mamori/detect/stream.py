"""The live-stream core of detection: ledger entries in, :class:`Detection` values out.

Pure: no I/O, no clock. The service that follows the ledger hands each entry's JSON bytes to
:meth:`StreamDetector.feed` with its ledger index and gets back the detections that entry
caused: one per base rule it matched (unless only ``generate: false`` correlations use that
rule) and one per correlation that fired. :meth:`StreamDetector.flush` ends the stream and
judges the correlation windows still open; :meth:`StreamDetector.tick` lets time pass without an
event (a timer), so windows with ``lt``/``lte``/``eq``/``neq`` conditions can close.

Unlike `mamori detect test`, a rule always applies only to events its logsource's ECS condition
accepts (``match_logsource``): a live stream mixes every source, and a Windows rule run over
Linux logs would only make noise. Correlation time advances exactly as in `detect test`: with
each event that matched a base rule (and with :meth:`StreamDetector.tick`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from sigma.correlations import SigmaCorrelationRule
from sigma.rule import SigmaRule

from mamori.detect.compile import flatten
from mamori.detect.correlation import (
    BaseMatch,
    CorrelationEngine,
    CorrelationMatch,
    CorrelationSpec,
)
from mamori.detect.detection import KEY_FIELDS, Detection
from mamori.detect.ecs import ECS_FIELDS
from mamori.detect.engine import Compiled, build_engine, event_time
from mamori.detect.enrich import Enricher
from mamori.detect.errors import DetectError
from mamori.detect.rules import LoadProblem, LoadResult

SELECTED_FIELDS: Final = (
    "@timestamp",
    "host.name",
    "user.name",
    "source.ip",
    "destination.ip",
    "destination.port",
    "event.action",
    "event.outcome",
    "message",
)
"""The flat ECS fields a base detection carries in :attr:`Detection.fields`, when present."""

MESSAGE_LIMIT: Final = 500
"""Characters of ``message`` kept in :attr:`Detection.fields`."""

CLAUSE_NAMESPACE: Final = "clause"
"""Tags ``clause.<ID>`` name the contract clauses a rule serves."""

_LABELS: Final = {"host.name": "host", "user.name": "user"}
"""Short names for :data:`KEY_FIELDS` in summaries (others are shown as written)."""


@dataclass(frozen=True, slots=True)
class StreamStats:
    """Counters since the detector was built, for monitoring."""

    events: int = 0
    """Entries fed (with :meth:`StreamDetector.feed` or :meth:`StreamDetector.feed_event`)."""
    unparsable: int = 0
    """Entries that were not JSON, or not a JSON object: skipped."""
    untimed: int = 0
    """Events without a readable ``@timestamp``: their detections carry time 0.0 and they
    take no part in correlations."""
    future: int = 0
    """Events dated after the ledger received them: read as of their receipt."""
    matched: int = 0
    """Events that matched at least one base rule."""
    detections: int = 0
    """Detections returned (base and correlation)."""
    correlations: int = 0
    """Correlation detections among them."""
    late: int = 0
    """Base matches the correlation engine dropped as older than its window allows."""
    evicted: int = 0
    """Correlation groups dropped because a correlation held too many."""


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a detection says about the rule that made it."""

    id: str
    title: str
    severity: str
    """The Sigma ``level`` in lower case; ``medium`` when the rule gives none."""
    clauses: tuple[str, ...]
    """The names of the rule's ``clause.*`` tags, as written."""
    name: str | None = None
    """The Sigma ``name``, by which correlations may reference the rule."""

    @classmethod
    def of(cls, rule: SigmaRule | SigmaCorrelationRule, ident: str) -> RuleInfo:
        """The information of a parsed rule reported as `ident`."""
        level = rule.level
        return cls(
            id=ident,
            title=rule.title,
            severity=level.name.lower() if level is not None else "medium",
            clauses=tuple(t.name for t in rule.tags if t.namespace == CLAUSE_NAMESPACE),
            name=rule.name or None,
        )


@dataclass(frozen=True, slots=True)
class _Base:
    """A compiled base rule with what the stream does with its matches."""

    info: RuleInfo
    alerts: bool
    """False when only correlations with ``generate: false`` reference the rule."""
    correlated: bool
    """True when some correlation references the rule (by id or name)."""


class StreamDetector:
    """Evaluates base and correlation rules over the ledger's entries, one at a time.

    ``compiled`` holds the base rules (see :func:`~mamori.detect.engine.build_engine`; they are
    always applied with their logsource conditions here); ``correlations`` the correlation
    rules, each of which must be usable (:meth:`from_load` sorts out those that are not).
    ``fields`` is the Sigma → ECS table group-by and aliased fields are looked up through.
    Raises :class:`DetectError` when a correlation is not supported or they reference each
    other in a loop.
    """

    def __init__(
        self,
        compiled: Compiled,
        correlations: Sequence[SigmaCorrelationRule],
        *,
        enricher: Enricher | None = None,
        fields: Mapping[str, str] = ECS_FIELDS,
    ) -> None:
        self.engine = compiled.engine.with_logsource()
        self.enricher = enricher
        self.fields = dict(fields)
        specs = [CorrelationSpec.from_sigma(c) for c in correlations]
        self.correlation = CorrelationEngine(specs)
        self._corr_info = {
            s.id: RuleInfo.of(c, s.id) for s, c in zip(specs, correlations, strict=True)
        }
        referenced = {ref for s in specs for ref in s.rules}
        corr = self.correlation
        # By object, not id: two files may give rules the same id (each keeps its own level).
        self._bases: dict[int, _Base] = {}
        for r in self.engine.rules:
            info = RuleInfo.of(r.rule, r.id)
            name = info.name
            self._bases[id(r)] = _Base(
                info,
                alerts=corr.is_standalone(r.id) and (name is None or corr.is_standalone(name)),
                correlated=r.id in referenced or (name is not None and name in referenced),
            )
        self._events = 0
        self._unparsable = 0
        self._untimed = 0
        self._future = 0
        self._matched = 0
        self._detections = 0
        self._correlations = 0

    @classmethod
    def from_load(
        cls,
        loaded: LoadResult,
        *,
        enricher: Enricher | None = None,
        fields: Mapping[str, str] = ECS_FIELDS,
    ) -> tuple[StreamDetector, list[LoadProblem]]:
        """A detector over every usable rule of a load, and the problems of the others (rules
        that do not compile, logsources mamori cannot map, unsupported correlations)."""
        built = build_engine(loaded, fields=fields, match_logsource=True)
        problems = list(built.problems)
        usable: list[SigmaCorrelationRule] = []
        for c in built.correlations:
            try:
                CorrelationSpec.from_sigma(c)
            except DetectError as e:
                problems.append(LoadProblem(loaded.path_of(c), f"{_cid(c)}: {e.message}"))
                continue
            usable.append(c)
        try:
            detector = cls(built, usable, enricher=enricher, fields=fields)
        except DetectError as e:  # names clash or correlations loop: none of them is used
            problems.extend(
                LoadProblem(loaded.path_of(c), f"{_cid(c)}: {e.message}") for c in usable
            )
            detector = cls(built, [], enricher=enricher, fields=fields)
        return detector, problems

    @property
    def stats(self) -> StreamStats:
        """The counters now."""
        cs = self.correlation.stats
        return StreamStats(
            events=self._events,
            unparsable=self._unparsable,
            untimed=self._untimed,
            future=self._future,
            matched=self._matched,
            detections=self._detections,
            correlations=self._correlations,
            late=cs.late,
            evicted=cs.evicted,
        )

    def feed(self, index: int, raw: bytes) -> list[Detection]:
        """One ledger entry's JSON bytes; an entry that is not a JSON object is counted in
        :attr:`stats` and skipped."""
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            event = None
        if type(event) is not dict:
            self._events += 1
            self._unparsable += 1
            return []
        return self.feed_event(index, event)

    def feed_event(
        self, index: int, event: Mapping[str, Any], *, received: float | None = None
    ) -> list[Detection]:
        """One event (nested or flat ECS) with its ledger index.

        `received` is when the ledger took the event (epoch seconds). An event claiming a later
        time than that is read as of `received`: a sender's clock cannot be ahead of the
        ledger's, and a forged future ``@timestamp`` would otherwise push correlation time
        forward and make every real match after it "late" (dropped), switching the
        correlations off for whoever can send one line.
        """
        self._events += 1
        when = event_time(event)
        if when is None:
            self._untimed += 1
        elif received is not None and when > received:
            self._future += 1
            when = received
        if self.enricher is not None:
            event = self.enricher.enrich(event, when)
        flat = flatten(event)
        rules = self.engine.matching_flat(flat)
        if not rules:
            return []
        self._matched += 1
        out: list[Detection] = []
        fired: list[CorrelationMatch] = []
        view: dict[str, Any] | None = None
        if when is not None and self.correlation.specs:
            # Time advances with every matching event, as in `detect test`.
            fired += self.correlation.flush(when)
        for r in rules:
            base = self._bases[id(r)]
            if base.alerts:
                out.append(_base_detection(base.info, index, when, flat))
            if base.correlated and when is not None:
                if view is None:
                    view = self._view(flat)
                fired += self.correlation.feed(
                    BaseMatch(r.id, when, index, view, rule_name=base.info.name)
                )
        out += self._correlation_detections(fired)
        self._detections += len(out)
        return out

    def tick(self, now: float) -> list[Detection]:
        """Let time pass to `now` (epoch seconds) without an event: correlation windows that
        ended by then are judged."""
        out = self._correlation_detections(self.correlation.flush(now))
        self._detections += len(out)
        return out

    def flush(self) -> list[Detection]:
        """End of stream: judge every correlation window still open."""
        out = self._correlation_detections(self.correlation.flush())
        self._detections += len(out)
        return out

    # ---- internals -----------------------------------------------------------------------

    def _view(self, flat: dict[str, Any]) -> dict[str, Any]:
        """The event as correlations see it: flat ECS names, and the Sigma names mapped to
        them, so group-by fields may be written either way."""
        view = dict(flat)
        for sigma_name, ecs_path in self.fields.items():
            if ecs_path in flat and sigma_name not in view:
                view[sigma_name] = flat[ecs_path]
        return view

    def _correlation_detections(self, fired: Sequence[CorrelationMatch]) -> list[Detection]:
        out = [_correlation_detection(self._corr_info[m.rule], m) for m in fired if m.standalone]
        self._correlations += len(out)
        return out


def _cid(c: SigmaCorrelationRule) -> str:
    return str(c.id) if c.id else c.name or c.title


def _text(v: Any) -> str:
    return v if isinstance(v, str) else orjson.dumps(v).decode()


def _base_detection(
    info: RuleInfo, index: int, when: float | None, flat: Mapping[str, Any]
) -> Detection:
    group = tuple((k, _text(flat[k])) for k in KEY_FIELDS if flat.get(k) is not None)
    selected: dict[str, Any] = {}
    for k in SELECTED_FIELDS:
        v = flat.get(k)
        if v is not None:
            selected[k] = v
    msg = selected.get("message")
    if isinstance(msg, str) and len(msg) > MESSAGE_LIMIT:
        selected["message"] = msg[:MESSAGE_LIMIT]
    t = when if when is not None else 0.0
    return _detection(info, (index,), t, t, group, correlation=False, fields=selected)


def _correlation_detection(info: RuleInfo, m: CorrelationMatch) -> Detection:
    group = tuple((k, "" if v is None else _text(v)) for k, v in m.group)
    return _detection(
        info, m.event_ids, m.first, m.last, group, correlation=True, fields=dict(group)
    )


def _detection(
    info: RuleInfo,
    events: tuple[int, ...],
    first: float,
    last: float,
    group: tuple[tuple[str, str], ...],
    *,
    correlation: bool,
    fields: Mapping[str, Any],
) -> Detection:
    """A detection of the rule `info` describes, its summary the title with the group."""
    summary = info.title
    if group:
        summary += ": " + " ".join(f"{_LABELS.get(k, k)}={v}" for k, v in group)
    return Detection(
        rule=info.id,
        title=info.title,
        severity=info.severity,
        clauses=info.clauses,
        events=events,
        first_seen=first,
        last_seen=last,
        group=group,
        correlation=correlation,
        summary=summary,
        fields=fields,
    )
