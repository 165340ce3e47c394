"""Is a component affected by an advisory? (pure)

:func:`affected` answers AFFECTED, NOT_AFFECTED or UNKNOWN (with a reason) by OSV's evaluation
algorithm (https://ossf.github.io/osv-schema/#evaluation). It answers NOT_AFFECTED only when it
is sure: a version it cannot parse, an ecosystem it cannot order, a range of git commits only,
give UNKNOWN. :func:`findings` evaluates many advisories for one component and merges the ones
that describe the same vulnerability under different ids (CVE, GHSA, PYSEC, DSA…).

The rules, with the reasons behind them, are in docs/vuln-matching.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from mamori.vuln.components import PYPI, Component
from mamori.vuln.osv import Advisory, Affected, EventKind, Range, RangeType
from mamori.vuln.severity import Rating, rate, worst
from mamori.vuln.versions import SEMVER, Comparable, Scheme, scheme_for


class Outcome(StrEnum):
    """What matching concluded (docs/vuln-matching.md#verdicts)."""

    AFFECTED = "affected"
    NOT_AFFECTED = "not_affected"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one component and one advisory."""

    outcome: Outcome
    reason: str = ""
    """Why, for people: always set for UNKNOWN (what could not be decided)."""


NOT_AFFECTED = Verdict(Outcome.NOT_AFFECTED)
AFFECTED = Verdict(Outcome.AFFECTED)


def unknown(reason: str) -> Verdict:
    """An UNKNOWN verdict: mamori could not decide, and says why."""
    return Verdict(Outcome.UNKNOWN, reason)


# ---------------------------------------------------------------- which entries apply


_PEP503 = re.compile(r"[-_.]+")


@lru_cache(maxsize=1 << 16)
def normalise_name(ecosystem: str, name: str) -> str:
    """The name as the ecosystem compares it: PyPI per PEP 503 (case-insensitive, runs of
    ``-_.`` equal); every other ecosystem exactly as written (npm and Debian names are
    case-sensitive)."""
    if ecosystem.casefold() == PYPI.casefold():
        return _PEP503.sub("-", name).lower()
    return name


def _release(distro: str) -> str:
    """``debian:12`` → ``12``; "" when the component says no release."""
    return distro.partition(":")[2]


def _entry_release(release: str) -> str:
    # OSV's Ubuntu ecosystems are "Ubuntu:22.04:LTS"; the LTS mark is not part of the release
    # a system reports. "Ubuntu:Pro:…" entries stay distinct: they apply only to Ubuntu Pro.
    return release.removesuffix(":LTS")


def applicable(component: Component, advisory: Advisory) -> tuple[Affected, ...] | Verdict:
    """The advisory's entries for this component: same ecosystem and (normalised) name; for OS
    packages, the entries for the component's release (e.g. ``Debian:12`` for ``debian:12``) when
    there are any, else the release-less ones. An UNKNOWN verdict when the entries are all for
    specific releases and the component's release is not known."""
    eco = component.ecosystem.casefold()
    name = normalise_name(component.ecosystem, component.match_name)
    entries = [
        a
        for a in advisory.affected
        if a.base_ecosystem.casefold() == eco and normalise_name(a.base_ecosystem, a.name) == name
    ]
    if not entries:
        return ()
    generic = tuple(a for a in entries if not a.release)
    if len(generic) == len(entries):
        return generic
    release = _release(component.distro)
    if release:
        own = tuple(a for a in entries if _entry_release(a.release) == release)
        return own or generic
    if generic:
        return generic
    return unknown(
        f"{advisory.id} covers {component.match_name} only for specific releases "
        f"({', '.join(sorted({a.ecosystem for a in entries}))}) and the component's release is "
        "not known (its distro field is empty)"
    )


# ---------------------------------------------------------------- OSV evaluation


def affected(component: Component, advisory: Advisory) -> Verdict:
    """Whether `component` (by its ecosystem, ``match_name`` and ``match_version``) is
    affected by `advisory`. A withdrawn advisory affects nothing (NOT_AFFECTED, reason
    ``withdrawn``)."""
    if advisory.withdrawn:
        return Verdict(Outcome.NOT_AFFECTED, f"withdrawn {advisory.withdrawn}")
    if not component.ecosystem:
        return unknown(f"{component.name} has no known ecosystem, so no advisory can be matched")
    entries = applicable(component, advisory)
    if isinstance(entries, Verdict):
        return entries
    reasons: list[str] = []
    for entry in entries:
        verdict = _entry_verdict(component.match_version, entry)
        if verdict.outcome is Outcome.AFFECTED:
            return verdict
        if verdict.outcome is Outcome.UNKNOWN:
            reasons.append(verdict.reason)
    if reasons:
        return unknown("; ".join(dict.fromkeys(reasons)))
    return NOT_AFFECTED


def _entry_verdict(version: str, entry: Affected) -> Verdict:
    scheme = scheme_for(entry.base_ecosystem)
    if version in entry.versions:
        return AFFECTED
    if scheme is not None and entry.versions:
        # "1.0" and "1.0.0" are the same PEP 440 version: compare parsed, not as text.
        key = scheme.key(version)
        if key is not None and key in _listed(scheme, entry.versions):
            return AFFECTED
    reasons: list[str] = []
    evaluable = False
    for rng in entry.ranges:
        if rng.type is RangeType.GIT:
            continue  # OSV: GIT ranges are evaluated on commits, not versions.
        evaluable = True
        rng_scheme = SEMVER if rng.type is RangeType.SEMVER else scheme
        if rng_scheme is None:
            reasons.append(
                f"mamori cannot order {entry.base_ecosystem} versions (supported: PyPI, npm, "
                "Debian, Ubuntu)"
            )
            continue
        verdict = _range_verdict(version, rng, rng_scheme)
        if verdict.outcome is Outcome.AFFECTED:
            return verdict
        if verdict.outcome is Outcome.UNKNOWN:
            reasons.append(verdict.reason)
    if reasons:
        return unknown("; ".join(dict.fromkeys(reasons)))
    if not evaluable and not entry.versions:
        if entry.ranges:
            return unknown(
                f"the advisory gives only git commit ranges for {entry.name}; a version "
                "cannot be placed in them"
            )
        return unknown(f"the advisory lists {entry.name} without any versions or ranges")
    if not evaluable and entry.ranges:
        return unknown(
            f"{version} is not in the advisory's version list and its ranges are git commits only"
        )
    return NOT_AFFECTED


@lru_cache(maxsize=1 << 17)
def _listed(scheme: Scheme, versions: tuple[str, ...]) -> frozenset[Comparable]:
    """The parsed versions of a ``versions`` list, as a set (cached per list: lists run to
    hundreds of versions and this is the scan's hot path). Parsed versions hash and compare
    equal when the scheme orders them equal, except dpkg's zero-padded digits (``1.00``)."""
    return frozenset(k for v in versions if (k := scheme.key(v)) is not None)


_ZERO = "0"
_NO_LIMIT = "*"  # OSV: "limit: *" places no upper limit.


def _range_verdict(version: str, rng: Range, scheme: Scheme) -> Verdict:
    v = scheme.key(version)
    if v is None:
        return unknown(f"{version!r} is not a valid {scheme.name} version")
    walk = _walk(rng, scheme)
    if isinstance(walk, Verdict):
        return walk
    events, limits = walk
    if limits and not any(v < lim for lim in limits):
        return NOT_AFFECTED
    vulnerable = False
    for k, kind in events:
        if k is None:  # introduced: "0"
            vulnerable = True
        elif kind is EventKind.INTRODUCED:
            vulnerable = vulnerable or v >= k
        elif kind is EventKind.FIXED:
            vulnerable = vulnerable and not v >= k
        elif kind is EventKind.LAST_AFFECTED:
            vulnerable = vulnerable and not v > k
    return AFFECTED if vulnerable else NOT_AFFECTED


_Walk = tuple[tuple[tuple[Comparable | None, EventKind], ...], tuple[Comparable, ...]]


@lru_cache(maxsize=1 << 17)
def _walk(rng: Range, scheme: Scheme) -> _Walk | Verdict:
    """A range's events parsed and sorted for evaluation, and its limits (empty when there is
    none or one is ``*``); UNKNOWN when an event's version is not valid. Cached per range: a
    scan evaluates the same range for every version of a package installed."""
    # OSV evaluation: events sorted by version ("introduced: 0" first); walking them, an
    # introduced at or below v starts an affected span, a fixed at or below v ends it, a
    # last_affected below v ends it. limit: v must be below some limit.
    keyed: list[tuple[Comparable | None, int, EventKind]] = []
    unlimited = False
    for event in rng.events:
        if event.kind is EventKind.INTRODUCED and event.value == _ZERO:
            keyed.append((None, 0, event.kind))
            continue
        if event.kind is EventKind.LIMIT and event.value == _NO_LIMIT:
            unlimited = True
            continue
        k = scheme.key(event.value)
        if k is None:
            return unknown(
                f"the advisory's {event.kind} version {event.value!r} is not a valid "
                f"{scheme.name} version"
            )
        keyed.append((k, _TIE[event.kind], event.kind))
    limits = tuple(k for k, _, kind in keyed if kind is EventKind.LIMIT and k is not None)
    events = tuple((k, kind) for k, _, kind in sorted(keyed, key=_sort_key))
    return events, () if unlimited else limits


# At equal versions, an introduced is applied before a fixed/last_affected, so "introduced X,
# fixed X" affects nothing (as OSV's reference implementation sorts).
_TIE = {
    EventKind.INTRODUCED: 0,
    EventKind.LAST_AFFECTED: 1,
    EventKind.FIXED: 1,
    EventKind.LIMIT: 2,
}


def _sort_key(item: tuple[Comparable | None, int, EventKind]) -> tuple[int, _Version, int]:
    k, tie, _ = item
    return (0 if k is None else 1, _Version(k), tie)


@dataclass(frozen=True, slots=True)
class _Version:
    """Wraps a key so tuples with ``None`` (the bottom) compare without TypeError."""

    key: Comparable | None

    def __lt__(self, other: _Version) -> bool:
        if self.key is None or other.key is None:
            return self.key is None and other.key is not None
        return bool(self.key < other.key)


# ---------------------------------------------------------------- fixed versions, findings


def fixed_versions(component: Component, advisory: Advisory) -> tuple[str, ...]:
    """The versions the advisory names as fixed for this component's package (and release),
    in version order when the ecosystem can be ordered."""
    entries = applicable(component, advisory)
    if isinstance(entries, Verdict):
        return ()
    fixed = {
        e.value
        for a in entries
        for r in a.ranges
        if r.type is not RangeType.GIT
        for e in r.events
        if e.kind is EventKind.FIXED
    }
    scheme = scheme_for(component.ecosystem)
    return tuple(sorted(fixed, key=lambda s: _fixed_order(scheme, s)))


def _fixed_order(scheme: Scheme | None, s: str) -> tuple[_Version, str]:
    return (_Version(scheme.key(s) if scheme else None), s)


@dataclass(frozen=True, slots=True)
class Finding:
    """One vulnerability of one component, however many advisories describe it."""

    component: Component
    advisory_ids: tuple[str, ...]
    """Ids of the records merged into this finding, sorted."""
    primary_id: str
    """The id to show: the first CVE id if there is one, else the first id sorted."""
    aliases: tuple[str, ...]
    """Every other id the records give (their ids and aliases), sorted."""
    summary: str
    severity: Rating
    """The worst rating among the merged records."""
    fixed: tuple[str, ...]
    """Fixed versions for the component's ecosystem (and release), from every merged record."""
    verdict: Verdict
    """AFFECTED if any merged record says so, else UNKNOWN with every reason."""


def findings(component: Component, advisories: Iterable[Advisory]) -> list[Finding]:
    """Evaluate `advisories` for `component`, keep AFFECTED and UNKNOWN, and merge those
    sharing an id or alias into one finding each (sorted by primary id)."""
    hits = [
        (a, v)
        for a in advisories
        if (v := affected(component, a)).outcome is not Outcome.NOT_AFFECTED
    ]
    return merge(component, hits)


def merge(component: Component, hits: list[tuple[Advisory, Verdict]]) -> list[Finding]:
    """Group advisories that refer to the same vulnerability (connected through their ids and
    aliases, e.g. PYSEC-… aliasing CVE-… aliased by GHSA-…) into one :class:`Finding`."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for advisory, _ in hits:
        for other in advisory.aliases:
            ra, rb = find(advisory.id), find(other)
            if ra != rb:
                parent[max(ra, rb)] = min(ra, rb)
    groups: dict[str, list[tuple[Advisory, Verdict]]] = {}
    for hit in hits:
        groups.setdefault(find(hit[0].id), []).append(hit)
    out = [_finding(component, group) for group in groups.values()]
    return sorted(out, key=lambda f: f.primary_id)


def _finding(component: Component, group: list[tuple[Advisory, Verdict]]) -> Finding:
    group = sorted(group, key=lambda h: h[0].id)
    ids = sorted({i for a, _ in group for i in a.ids})
    cves = [i for i in ids if i.upper().startswith("CVE-")]
    primary = cves[0] if cves else ids[0]
    verdicts = [v for _, v in group]
    if any(v.outcome is Outcome.AFFECTED for v in verdicts):
        verdict = AFFECTED
    else:
        verdict = unknown("; ".join(dict.fromkeys(v.reason for v in verdicts)))
    ratings = []
    fixed: dict[str, None] = {}
    for advisory, _ in group:
        entries = applicable(component, advisory)
        entry = entries[0] if isinstance(entries, tuple) and entries else None
        ratings.append(rate(advisory, entry))
        fixed.update(dict.fromkeys(fixed_versions(component, advisory)))
    scheme = scheme_for(component.ecosystem)
    return Finding(
        component=component,
        advisory_ids=tuple(a.id for a, _ in group),
        primary_id=primary,
        aliases=tuple(i for i in ids if i != primary),
        summary=next((a.summary for a, _ in group if a.summary), group[0][0].details[:200]),
        severity=worst(ratings),
        fixed=tuple(sorted(fixed, key=lambda s: _fixed_order(scheme, s))),
        verdict=verdict,
    )
