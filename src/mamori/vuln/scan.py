"""Scan an inventory against the advisory database and the end-of-life data (pure).

:func:`scan` takes components, a function that returns the stored OSV records for one
(ecosystem, name), the database's state, the end-of-life catalogue and the recorded decisions,
and returns a :class:`ScanResult`: the findings (with their decision state), the components it
could not audit (and why), each component's support period, and the exit code for a threshold.
It does no I/O; the CLI (``mamori vuln scan``) opens the stores. The rules are in
docs/vuln-scan.md.

Fail closed (STYLE.md §4): a stale or empty database, a component outside every ecosystem
mamori audits, a version it cannot parse, an advisory it cannot evaluate or read, or a source
of the inventory that could not be read make the result *undecidable* (exit 2), never clean.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Protocol, assert_never

from mamori.gcpause import gc_paused
from mamori.vuln import eolmap, matchform
from mamori.vuln.components import Component
from mamori.vuln.eol import Catalogue
from mamori.vuln.errors import VulnError
from mamori.vuln.match import Finding, Outcome, Verdict, affected, merge, normalise_name
from mamori.vuln.osv import Advisory, parse
from mamori.vuln.severity import Label
from mamori.vuln.store import Status
from mamori.vuln.versions import scheme_for

DETECTED = "detected"
"""The decision state of a finding nobody has decided about yet."""
SETTLED_STATES = frozenset({"not_affected", "fixed", "verified"})
"""Decision states that stop a finding from failing the scan (it is still listed): triaged
not affected, fixed, and fixed with the fix verified."""

AdvisoriesFor = Callable[[str, str], Sequence[Mapping[str, Any]]]
"""(ecosystem, name) → the stored OSV records naming that package (``Store.advisories_for``)."""
DecisionKey = tuple[str, str, str]
"""(ecosystem, component name, vulnerability id)."""


class Threshold(StrEnum):
    """``--fail-on``: the lowest severity that fails the scan."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def label(self) -> Label:
        match self:
            case Threshold.LOW:
                return Label.LOW
            case Threshold.MEDIUM:
                return Label.MEDIUM
            case Threshold.HIGH:
                return Label.HIGH
            case Threshold.CRITICAL:
                return Label.CRITICAL
            case _:
                assert_never(self)


def reaches(label: Label, threshold: Threshold) -> bool:
    """Whether a severity is at or above `threshold`. ``unknown`` reaches every threshold (an
    unrated vulnerability may be critical: never clean when unsure); ``none`` (CVSS 0.0)
    reaches none."""
    if label is Label.UNKNOWN:
        return True
    if label is Label.NONE:
        return False
    return label.rank >= threshold.label.rank


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One import into the advisory database, as the scan reports it."""

    source: str
    kind: str
    sha256: str
    records: int
    data_date: dt.datetime | None


@dataclass(frozen=True, slots=True)
class Database:
    """The advisory database's state at the time of the scan."""

    records: int
    data_date: dt.datetime | None
    """The newest data date of any import; None before the first."""
    age: dt.timedelta | None
    max_age_days: float
    stale: bool
    """No data, or older than `max_age_days`."""
    snapshots: tuple[SnapshotInfo, ...] = ()

    @classmethod
    def from_status(cls, st: Status, max_age_days: float) -> Database:
        snaps = tuple(
            SnapshotInfo(s.source, s.kind, s.sha256, s.records, s.data_date) for s in st.snapshots
        )
        return cls(st.records, st.data_date, st.age, max_age_days, st.stale, snaps)


@dataclass(frozen=True, slots=True)
class Item:
    """A finding of the scan: one vulnerability of one component, and what was decided."""

    finding: Finding
    state: str
    """The decision state (``not_affected``, ``affected``, ``fixed``, ``under_investigation``,
    …) or :data:`DETECTED` when none was recorded."""

    @property
    def component(self) -> Component:
        return self.finding.component

    @property
    def settled(self) -> bool:
        """Triaged as not affected or fixed: listed, but it does not fail the scan."""
        return self.state in SETTLED_STATES

    def fails(self, threshold: Threshold) -> bool:
        return not self.settled and reaches(self.finding.severity.label, threshold)


@dataclass(frozen=True, slots=True)
class Unaudited:
    """Something the scan could not audit, and why."""

    component: Component | None
    """None for a source of the inventory that could not be read at all."""
    reason: str
    advisory_ids: tuple[str, ...] = ()
    """The advisories that could not be evaluated or read, when that is the reason."""
    source: str = ""
    """The unreadable source, when `component` is None."""


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything a scan found; renderers are in :mod:`mamori.vuln.scanout`."""

    components: tuple[Component, ...]
    findings: tuple[Item, ...]
    """AFFECTED findings, by component then vulnerability id."""
    unaudited: tuple[Unaudited, ...]
    eol: tuple[eolmap.Assessment, ...]
    """One per component when end-of-life data was given, else empty."""
    database: Database
    undecidable: tuple[str, ...]
    """Why the result as a whole cannot be trusted (stale or empty database, no components)."""
    today: dt.date
    warn_days: int
    eol_data: bool
    """Whether end-of-life data was available."""
    timings: dict[str, float] = field(default_factory=dict, compare=False)
    """Seconds spent per phase: lookup, parse, match, eol."""

    def failing(self, threshold: Threshold) -> list[Item]:
        """Findings that fail the scan at `threshold`."""
        return [i for i in self.findings if i.fails(threshold)]

    def exit_code(self, threshold: Threshold) -> int:
        """2 when the result is undecidable or anything is unaudited; else 1 when any finding
        fails at `threshold`; else 0."""
        if self.undecidable or self.unaudited:
            return 2
        return 1 if self.failing(threshold) else 0


def _precheck(c: Component, ecosystems: Collection[str] | None) -> tuple[bool, str]:
    """(whether to match the component at all, why it is unaudited or "")."""
    if c.kind == "operating-system" and not c.ecosystem:
        # The system itself: its vulnerabilities are its packages', each audited on its own;
        # what is its own is its support period (the end-of-life part).
        return False, ""
    if not c.ecosystem:
        return False, "no known ecosystem (mamori audits PyPI, npm, Debian and Ubuntu packages)"
    if not c.match_version:
        return False, "no version (an unpinned requirement or an SBOM entry without one)"
    if ecosystems is not None and c.ecosystem.casefold() not in ecosystems:
        return False, f"the vulnerability database holds no {c.ecosystem} advisories"
    scheme = scheme_for(c.ecosystem)
    if scheme is None:
        # Advisories' explicit version lists and SEMVER ranges are still evaluated.
        return True, f"mamori cannot order {c.ecosystem} versions"
    if scheme.key(c.match_version) is None:
        return True, f"{c.match_version!r} is not a valid {scheme.name} version"
    return True, ""


def _state(item: Finding, decisions: Mapping[DecisionKey, str]) -> str:
    if not decisions:
        return DETECTED
    c = item.component
    ids = (item.primary_id, *item.advisory_ids, *item.aliases)
    for name in dict.fromkeys((c.name, c.match_name)):
        for vid in ids:
            state = decisions.get((c.ecosystem, name, vid))
            if state is not None:
                return state
    return DETECTED


NOT = Outcome.NOT_AFFECTED


class Advisories(Protocol):
    """Where a scan reads advisories (:class:`~mamori.vuln.store.Store` is one)."""

    def match_forms(
        self, keys: Sequence[tuple[str, str]]
    ) -> Mapping[tuple[str, str], list[tuple[str, bytes]]]:
        """For each (ecosystem, name) key, the (id, match form) of the records that name the
        package and are not withdrawn, by id (:mod:`mamori.vuln.matchform`)."""
        ...

    def records(self, ids: Collection[str]) -> Mapping[str, Mapping[str, Any]]:
        """The whole records of these ids (the ones that hit a component)."""
        ...


class RecordLookup:
    """:class:`Advisories` over an :data:`AdvisoriesFor` function: the forms are built from
    the records it returns (tests, and callers that hold records rather than a store)."""

    def __init__(self, advisories_for: AdvisoriesFor) -> None:
        self._for = advisories_for
        self._docs: dict[str, Mapping[str, Any]] = {}

    def match_forms(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], list[tuple[str, bytes]]]:
        out: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
        for eco, name in keys:
            found = out[(eco, name)] = []
            for doc in self._for(eco, name):
                rid = str(doc.get("id", ""))
                self._docs[rid] = doc
                found.append((rid, matchform.build(doc, rid or f"a record for {eco} {name}")))
        return out

    def records(self, ids: Collection[str]) -> dict[str, Mapping[str, Any]]:
        return {i: self._docs[i] for i in ids if i in self._docs}


def _parse(doc: Mapping[str, Any], where: str) -> Advisory | VulnError:
    try:
        return parse(doc, where)
    except VulnError as e:
        return e


def _complete(
    hits: list[tuple[Advisory, Verdict]],
    docs: Mapping[str, Mapping[str, Any]],
    full: dict[str, Advisory | VulnError],
) -> tuple[list[tuple[Advisory, Verdict]], list[VulnError]]:
    """The hits with their whole record parsed (once per scan: cached in `full`)."""
    ok: list[tuple[Advisory, Verdict]] = []
    errors: list[VulnError] = []
    for adv, verdict in hits:
        whole = full.get(adv.id)
        if whole is None:
            doc = docs.get(adv.id)
            if doc is None:
                whole = VulnError(f"{adv.id}: the record is no longer in the database")
            else:
                rest = {k: v for k, v in doc.items() if k != "affected"}
                whole = _parse(rest, adv.id)
            if not isinstance(whole, VulnError):
                whole = replace(whole, affected=adv.affected)
            full[adv.id] = whole
        if isinstance(whole, VulnError):
            errors.append(whole)
        else:
            ok.append((whole, verdict))
    return ok, errors


def _undecidable(
    db: Database, components: Sequence[Component], problems: Sequence[Any]
) -> list[str]:
    reasons = []
    if db.records == 0:
        reasons.append("the vulnerability database is empty")
    elif db.stale:
        age = "no data date" if db.age is None else f"{db.age.total_seconds() / 86400:.1f} days"
        reasons.append(
            f"the vulnerability database is stale ({age} old; maximum {db.max_age_days:g} days)"
        )
    if not components and not problems:
        reasons.append("the inventory has no components")
    return reasons


def scan(
    components: Sequence[Component],
    advisories: Advisories | AdvisoriesFor,
    *,
    database: Database,
    today: dt.date,
    eol_catalogue: Catalogue | None = None,
    warn_days: int = eolmap.WARN_DAYS,
    decisions: Mapping[DecisionKey, str] | None = None,
    ecosystems: Collection[str] | None = None,
    problems: Sequence[tuple[str, str]] = (),
) -> ScanResult:
    """Scan `components`.

    `advisories` is asked once for the match forms of every distinct (ecosystem, normalised
    match name) and once for the whole records of the advisories that hit; each form and
    record is read once per scan. `ecosystems` (casefolded base ecosystems the database
    holds, when known) makes components of other ecosystems unaudited rather than clean.
    `problems` are (source, reason) of inventory sources that could not be read.
    """
    with gc_paused():  # see mamori.gcpause: half of a scan's time otherwise
        return _scan(
            components,
            advisories,
            database=database,
            today=today,
            eol_catalogue=eol_catalogue,
            warn_days=warn_days,
            decisions=decisions,
            ecosystems=ecosystems,
            problems=problems,
        )


def _scan(
    components: Sequence[Component],
    advisories: Advisories | AdvisoriesFor,
    *,
    database: Database,
    today: dt.date,
    eol_catalogue: Catalogue | None,
    warn_days: int,
    decisions: Mapping[DecisionKey, str] | None,
    ecosystems: Collection[str] | None,
    problems: Sequence[tuple[str, str]],
) -> ScanResult:
    decisions = decisions or {}
    covered = None if ecosystems is None else {e.casefold() for e in ecosystems}
    # Components unaudited as a whole (by position): the advisories that could not be
    # evaluated for them are folded into that one entry rather than listed one by one.
    flagged: dict[int, str] = {}
    unknown: dict[int, list[Unaudited]] = {}
    groups: dict[tuple[str, str], list[tuple[int, Component]]] = {}
    for n, c in enumerate(components):
        match_it, reason = _precheck(c, covered)
        if reason:
            flagged[n] = reason
        if match_it:
            key = (c.ecosystem, normalise_name(c.ecosystem, c.match_name))
            groups.setdefault(key, []).append((n, c))
    source = RecordLookup(advisories) if callable(advisories) else advisories
    t0 = time.perf_counter()
    forms = source.match_forms(list(groups))
    t1 = time.perf_counter()
    lean: dict[str, Advisory | VulnError] = {}
    for found in forms.values():
        for rid, form in found:
            if rid not in lean:
                lean[rid] = matchform.decode(form)
    t2 = time.perf_counter()
    # Match every component first, then read the whole records of the hits in one go.
    Hits = list[tuple[Advisory, Verdict]]
    pending: list[tuple[list[tuple[int, Component]], list[VulnError], dict[Any, Hits]]] = []
    hit_ids: set[str] = set()
    for key, members in groups.items():
        advisories_: list[Advisory] = []
        broken: list[VulnError] = []
        for rid, _ in forms.get(key, ()):
            adv = lean[rid]
            if isinstance(adv, VulnError):
                broken.append(adv)
            else:
                advisories_.append(adv)
        # Components of one package with the same version and release get the same findings
        # (Debian binaries built from one source package): evaluate once, rebind the component.
        memo: dict[Any, Hits] = {}
        for _, c in members:
            if (c.match_version, c.distro) not in memo:
                hits = [(a, v) for a in advisories_ if (v := affected(c, a)).outcome is not NOT]
                memo[(c.match_version, c.distro)] = hits
                hit_ids.update(a.id for a, _ in hits)
        pending.append((members, broken, memo))
    t3 = time.perf_counter()
    docs = source.records(hit_ids) if hit_ids else {}
    t4 = time.perf_counter()
    full: dict[str, Advisory | VulnError] = {}
    items: list[Item] = []
    for members, broken, memo in pending:
        done_for: dict[Any, tuple[list[Finding], list[VulnError]]] = {}
        for n, c in members:
            bad = unknown.setdefault(n, [])
            for err in broken:
                bad.append(Unaudited(c, f"an advisory could not be read: {err.message}"))
            done = done_for.get((c.match_version, c.distro))
            if done is None:
                ok, errors = _complete(memo[(c.match_version, c.distro)], docs, full)
                done = done_for[(c.match_version, c.distro)] = (merge(c, ok), errors)
            for err in done[1]:
                bad.append(Unaudited(c, f"an advisory could not be read: {err.message}"))
            for f in done[0]:
                f = f if f.component is c else replace(f, component=c)
                match f.verdict.outcome:
                    case Outcome.AFFECTED:
                        items.append(Item(f, _state(f, decisions)))
                    case Outcome.UNKNOWN:
                        why = f"{f.primary_id}: {f.verdict.reason}"
                        bad.append(Unaudited(c, why, f.advisory_ids))
                    case Outcome.NOT_AFFECTED:  # merge() is only given the others
                        pass
                    case _:
                        assert_never(f.verdict.outcome)
    t_lookup = (t1 - t0) + (t4 - t3)
    t_parse = t2 - t1
    t_match = (t3 - t2) + (time.perf_counter() - t4)
    t5 = time.perf_counter()
    eol: tuple[eolmap.Assessment, ...] = ()
    if eol_catalogue is not None:
        eol = tuple(eolmap.check(list(components), eol_catalogue, today, warn_days))
    timings = {
        "lookup": t_lookup,
        "parse": t_parse,
        "match": t_match,
        "eol": time.perf_counter() - t5,
    }
    items.sort(key=lambda i: (_ckey(i.component), i.finding.primary_id))
    unaudited = [Unaudited(None, reason, source=src) for src, reason in problems]
    for n, c in enumerate(components):
        if n in flagged:
            ids = tuple(i for u in unknown.get(n, ()) for i in u.advisory_ids)
            unaudited.append(Unaudited(c, flagged[n], ids))
        else:
            unaudited.extend(unknown.get(n, ()))
    return ScanResult(
        components=tuple(components),
        findings=tuple(items),
        unaudited=tuple(unaudited),
        eol=eol,
        database=database,
        undecidable=tuple(_undecidable(database, components, problems)),
        today=today,
        warn_days=warn_days,
        eol_data=eol_catalogue is not None,
        timings=timings,
    )


def _ckey(c: Component) -> tuple[str, str, str, str]:
    return (c.ecosystem, c.name, c.version, c.purl)
