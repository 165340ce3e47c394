"""What the vulnerability pages (:mod:`mamori.web.vulnpages`) read: blocking, run in a worker
thread. Only the public functions of :mod:`mamori.vuln` are called; every decision goes through
:mod:`mamori.vuln.decisionstore`, which records its audit event.

A :class:`~mamori.vuln.errors.VulnError` that means "no such system or finding" becomes
:class:`NotFound` (a 404); any other one is left to the page, which shows its message.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Final
from urllib.parse import quote
from zoneinfo import ZoneInfo

from mamori.errors import MamoriError
from mamori.home import Home
from mamori.vuln import decisionstore, eol, eolmap, eolplans
from mamori.vuln import store as advisories
from mamori.vuln.components import Component
from mamori.vuln.decisions import OPEN, SEVERITIES, HistoryEntry, Key, Record
from mamori.vuln.eol import DateOrFlag
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory import store as inventories
from mamori.vuln.inventory.diff import InventoryDiff, diff
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.settings import VulnConfig

__all__ = [
    "NO_ECOSYSTEM",
    "PAGE_SIZE",
    "Calendar",
    "DbState",
    "EolEntry",
    "EolState",
    "NotFound",
    "SystemRow",
    "SystemView",
    "calendar",
    "check_system",
    "db_state",
    "eol_state",
    "finding_path",
    "list_findings",
    "one_finding",
    "one_system",
    "settings",
    "system_rows",
]

PAGE_SIZE: Final = 100
"""Components on one page of a system."""
NO_ECOSYSTEM: Final = "-"
"""The ecosystem filter's value for components outside every ecosystem mamori knows."""


class NotFound(MamoriError):
    """No such system, inventory or finding: a 404."""


def settings(home: Home) -> tuple[VulnConfig, ZoneInfo]:
    """The home's `[vuln]` section and its `[calendar]` zone (days are counted in it)."""
    try:
        cfg = home.config()
    except MamoriError as e:
        raise VulnError(f"the configuration cannot be read: {e.message}", hint=e.hint) from e
    return cfg.vuln, ZoneInfo(cfg.calendar.timezone)


def finding_path(r: Record) -> str:
    """The page of one finding (a component name may hold a ``/``: npm scopes)."""
    return "/vuln/findings/" + "/".join(
        (quote(r.system, safe=""), quote(r.ecosystem, safe=""), quote(r.name, safe="@/"),
         quote(r.vuln, safe=""))
    )  # fmt: skip


# --- the overview -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DbState:
    """The advisory database at a glance; `present` False: none imported yet."""

    present: bool
    stale: bool = True
    data_date: dt.datetime | None = None
    records: int = 0
    max_age_days: int = 0
    problem: str = ""
    """Why it could not be read ("" when it could)."""


@dataclass(frozen=True, slots=True)
class EolState:
    """The end-of-life data: its date, or why there is none."""

    data_date: dt.date | None = None
    imported_at: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True)
class SystemRow:
    """One system of the overview."""

    name: str
    taken_at: dt.datetime | None
    components: int
    ecosystems: tuple[tuple[str, int], ...]
    open_by_severity: dict[str, int]
    overdue: int
    unread_sources: int = 0
    """Sources of the latest inventory that could not be read."""
    problem: str = ""


def db_state(home: Home, max_age_days: int) -> DbState:
    if not (home.root / advisories.DIR_NAME / advisories.DB_NAME).exists():
        return DbState(present=False, max_age_days=max_age_days)
    try:
        with advisories.Store.open_existing(home) as db:
            st = db.status(max_age_days=max_age_days)
    except VulnError as e:
        return DbState(present=True, max_age_days=max_age_days, problem=e.message)
    return DbState(True, st.stale, st.data_date, st.records, max_age_days)


def eol_state(home: Home) -> tuple[EolState, eol.Catalogue | None]:
    try:
        cat = eol.load(home.root)
    except VulnError as e:
        return EolState(problem=e.message), None
    return EolState(cat.data_date, cat.imported_at), cat


def _ecosystems(components: Sequence[Component]) -> tuple[tuple[str, int], ...]:
    counts = Counter(c.ecosystem or NO_ECOSYSTEM for c in components)
    return tuple(sorted(counts.items()))


def system_rows(home: Home, today: dt.date) -> list[SystemRow]:
    """Every system with an inventory: its latest one, its open findings and overdue ones."""
    rows: list[SystemRow] = []
    for name in inventories.systems(home):
        try:
            inv = inventories.load(home, name)
            found = decisionstore.findings(home, name)
        except VulnError as e:
            rows.append(SystemRow(name, None, 0, (), {}, 0, problem=e.message))
            continue
        open_ = [r for r in found if r.state in OPEN]
        by_severity = Counter(r.severity for r in open_)
        rows.append(
            SystemRow(
                name,
                inv.taken_at,
                len(inv.components),
                _ecosystems(inv.components),
                {s: by_severity[s] for s in SEVERITIES if by_severity[s]},
                sum(1 for r in open_ if r.overdue(today)),
                len(inv.problems),
            )
        )
    return rows


# --- one system -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SystemView:
    """One inventory of a system, its components filtered and paged, and what changed since
    the inventory before it."""

    inventory: Inventory
    stamps: tuple[str, ...]
    """Every inventory of the system, newest first."""
    stamp: str
    previous: str | None
    ecosystems: tuple[tuple[str, int], ...]
    shown: tuple[Component, ...]
    matching: int
    """Components that pass the filters (all pages)."""
    pages: int
    changes: InventoryDiff | None = field(default=None)
    """None for the first inventory."""


def check_system(home: Home, system: str) -> list[str]:
    """The system's inventory stamps, oldest first; :class:`NotFound` for a name that is not a
    system's or a system without inventories."""
    try:
        taken = inventories.stamps(home, system)
    except VulnError as e:
        raise NotFound(e.message) from e
    if not taken:
        raise NotFound(f"no inventory of {system!r}")
    return taken


def one_system(
    home: Home, system: str, at: str, ecosystem: str, name: str, page: int
) -> SystemView:
    """The inventory `at` (a stamp; "" the latest), components of `ecosystem` ("" any,
    :data:`NO_ECOSYSTEM` none) whose name holds `name` (any case), page `page` (from 1)."""
    taken = check_system(home, system)
    stamp = at or taken[-1]
    if stamp not in taken:
        raise NotFound(f"no inventory of {system!r} taken at {at}")
    inv = inventories.load(home, system, stamp)
    index = taken.index(stamp)
    previous = taken[index - 1] if index > 0 else None
    changes = None
    if previous is not None:
        changes = diff(inventories.load(home, system, previous).components, inv.components)
    wanted = "" if ecosystem == NO_ECOSYSTEM else ecosystem
    needle = name.casefold()
    matching = [
        c
        for c in inv.components
        if (not ecosystem or c.ecosystem == wanted) and needle in c.name.casefold()
    ]
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    start = (min(page, pages) - 1) * PAGE_SIZE
    return SystemView(
        inv,
        tuple(reversed(taken)),
        stamp,
        previous,
        _ecosystems(inv.components),
        tuple(matching[start : start + PAGE_SIZE]),
        len(matching),
        pages,
        changes,
    )


# --- findings ---------------------------------------------------------------------------------


def list_findings(
    home: Home, system: str, state: str, severity: str, today: dt.date
) -> list[Record]:
    """Findings of `system` ("" every system), in `state` ("" any, ``open``, ``overdue`` or a
    state) and of `severity` ("" any): overdue first, then by deadline."""
    names = [system] if system else inventories.systems(home)
    if system:
        check_system(home, system)
    found: list[Record] = []
    for name in names:
        found += decisionstore.findings(home, name)

    def keep(r: Record) -> bool:
        if severity and r.severity != severity:
            return False
        if state == "open":
            return r.state in OPEN
        if state == "overdue":
            return r.overdue(today)
        return not state or r.state.value == state

    return sorted(
        (r for r in found if keep(r)),
        key=lambda r: (not r.overdue(today), r.state not in OPEN, r.deadline, r.system, r.key),
    )


def one_finding(home: Home, system: str, key: Key) -> tuple[Record, list[HistoryEntry]]:
    """A finding and its history, oldest first; :class:`NotFound` when there is none."""
    check_system(home, system)
    record = next((r for r in decisionstore.findings(home, system) if r.key == key), None)
    if record is None:
        raise NotFound(f"{system} has no finding {key[2]} for {key[0]}/{key[1]}")
    return record, decisionstore.history(home, system, key)


# --- the end-of-life calendar -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EolEntry:
    """One product cycle (or one unmapped component) and where it is used."""

    status: eolmap.Status
    product: str
    """The product's title, or the component's name when it has none."""
    cycle: str
    eol: DateOrFlag
    days_left: int | None
    active_support: DateOrFlag
    extended_support: DateOrFlag
    used_by: tuple[tuple[str, str, str], ...]
    """(system, component name, version), sorted."""
    plans: tuple[tuple[str, str], ...] = ()
    """(system, its end-of-support plan for this cycle, product or component), sorted."""


@dataclass(frozen=True, slots=True)
class Calendar:
    dated: tuple[tuple[str, tuple[EolEntry, ...]], ...]
    """(``YYYY-MM``, the cycles ending in that month), months in order."""
    undated: tuple[EolEntry, ...]
    """Ended without a published date, no published end, unknown cycle."""
    not_tracked: tuple[EolEntry, ...]
    counts: dict[str, int]
    """Components per status (its value)."""
    problems: tuple[tuple[str, str], ...]
    """(system, why its inventory could not be read)."""


def calendar(
    home: Home, cat: eol.Catalogue, today: dt.date, warn_days: int, system: str = ""
) -> Calendar:
    """Every system's latest components mapped to a product cycle, grouped by cycle."""
    groups: dict[tuple[str, ...], list[tuple[eolmap.Assessment, str]]] = {}
    planned: dict[tuple[str, ...], set[tuple[str, str]]] = {}
    problems: list[tuple[str, str]] = []
    counts: Counter[str] = Counter()
    for name in [system] if system else inventories.systems(home):
        try:
            components = list(inventories.load(home, name).components)
            plans = eolplans.plans(home, name)
        except VulnError as err:
            problems.append((name, err.message))
            continue
        for a in eolmap.check(components, cat, today, warn_days):
            counts[a.status.value] += 1
            m = a.mapping
            if m.product is None:
                key: tuple[str, ...] = ("", m.component.name)
            else:
                key = (m.product.name, m.cycle.cycle if m.cycle else f"?{m.wanted}")
            groups.setdefault(key, []).append((a, name))
            plan = eolplans.plan_for(plans, m.product.name if m.product else "",
                                     m.cycle.cycle if m.cycle else "", m.component.name)  # fmt: skip
            if plan is not None:
                planned.setdefault(key, set()).add((name, plan.cell()))
    entries = [
        replace(_entry(found), plans=tuple(sorted(planned.get(key, ()))))
        for key, found in groups.items()
    ]
    dated: dict[str, list[EolEntry]] = {}
    for e in sorted(entries, key=lambda e: (_sort_date(e.eol), e.product, e.cycle)):
        if isinstance(e.eol, dt.date):
            dated.setdefault(f"{e.eol:%Y-%m}", []).append(e)
    undated = [
        e
        for e in entries
        if not isinstance(e.eol, dt.date) and e.status is not eolmap.Status.NOT_TRACKED
    ]
    order = {s: i for i, s in enumerate(eolmap.Status)}
    return Calendar(
        tuple((month, tuple(es)) for month, es in dated.items()),
        tuple(sorted(undated, key=lambda e: (order[e.status], e.product, e.cycle))),
        tuple(
            sorted(
                (e for e in entries if e.status is eolmap.Status.NOT_TRACKED),
                key=lambda e: e.product.casefold(),
            )
        ),
        dict(counts),
        tuple(problems),
    )


def _sort_date(v: DateOrFlag) -> dt.date:
    return v if isinstance(v, dt.date) else dt.date.max


def _entry(found: list[tuple[eolmap.Assessment, str]]) -> EolEntry:
    a = found[0][0]
    m = a.mapping
    used = sorted({(s, x.mapping.component.name, x.mapping.component.version) for x, s in found})
    return EolEntry(
        a.status,
        m.product.title if m.product else m.component.name,
        m.cycle.cycle if m.cycle else m.wanted,
        a.eol,
        a.days_left,
        m.cycle.eoas if m.cycle else None,
        m.cycle.eoes if m.cycle else None,
        tuple(used),
    )
