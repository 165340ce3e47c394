"""The rows of the Japanese reports for the agency, as data (SEC-3, CLD-9, IP-4).

* サポート期間報告書 (:func:`support_report`, SEC-3): every component of a system's latest
  inventory with its support period from the end-of-life catalogue.
* 脆弱性対策状況報告書 (:func:`countermeasure_report`, CLD-9): every finding of the decision
  store with its state, deadline and the full history of what was decided.
* ライセンス一覧 (:func:`licence_report`, IP-4): every component with its licences, and those
  that commonly need a closer look flagged (a flag for review, not legal advice).

The builders are pure: they take values and the day to judge on (no clock inside); the rows
hold values (enums, dates), and :mod:`mamori.vuln.reportrender` writes them in Japanese, as HTML
and CSV. :func:`mamori.cli.vuln_report.gather` reads the home. See docs/vuln-reports.md.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from mamori.vuln import eolmap
from mamori.vuln.components import DEBIAN, UBUNTU
from mamori.vuln.decisions import HistoryEntry, Key, Record, State, fixed_on_time
from mamori.vuln.eol import Catalogue, DateOrFlag
from mamori.vuln.eolmap import Status
from mamori.vuln.eolplans import Plan, plan_for
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.severity import Label

PLAN_UNWRITTEN: Final = "未記入"
"""The 対応方針 (end-of-support plan) of a row no plan covers (:mod:`mamori.vuln.eolplans`)."""
NO_LICENCE: Final = "未確認"
"""What a component that states no licence is listed as."""


class ReportKind(StrEnum):
    """Which report. ``history`` is the countermeasure report's transitions, as a CSV."""

    SUPPORT = "support"
    COUNTERMEASURES = "countermeasures"
    HISTORY = "history"
    LICENCES = "licences"


@dataclass(frozen=True, slots=True)
class Source:
    """One set of data a report was built from, so a reader can see how current it is."""

    label: str
    """What it is, in Japanese (インベントリ, サポート期間データ, 脆弱性データベース…)."""
    location: str
    """Where it came from: the system, a path, a URL."""
    data_date: dt.date | dt.datetime | None
    """How current the data itself is (the newest date it holds); None when unknown."""
    obtained_at: dt.datetime | None
    """When it was collected or imported."""
    sha256: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class Meta:
    """What every report states at its top."""

    system: str
    generated_at: dt.datetime
    """When the report was made (aware; shown in its own zone)."""
    today: dt.date
    """The day the report judges on (deadlines, end of support)."""
    sources: tuple[Source, ...]


# --- サポート期間報告書 (SEC-3) ---------------------------------------------------------------


class Group(StrEnum):
    """The kinds of component the support report groups by."""

    OS = "os"
    MIDDLEWARE = "middleware"
    LIBRARY = "library"


# endoflife.date categories of runtimes, servers and databases (framework → library, os → OS)
_MIDDLEWARE_CATEGORIES: Final = frozenset({"server-app", "lang", "db", "app", "service"})


@dataclass(frozen=True, slots=True)
class SupportRow:
    """One component and its support period."""

    group: Group
    name: str
    version: str
    ecosystem: str
    purl: str
    product: str
    """The product's title ("" when no product)."""
    cycle: str
    release_date: dt.date | None
    active_support: DateOrFlag
    """End of active support (``eoas``)."""
    security_support: DateOrFlag
    """End of security support: the end of life (``eol``)."""
    extended_support: DateOrFlag
    """End of extended support (``eoes``)."""
    status: Status
    days_left: int | None
    note: str = ""
    plan: str = PLAN_UNWRITTEN
    """対応方針: the end-of-support plan recorded for the row's product cycle, product or
    component (`mamori vuln eol plan`), with its due date; 未記入 when none is."""

    @property
    def needs_attention(self) -> bool:
        return self.status in (Status.ENDED, Status.ENDING)


@dataclass(frozen=True, slots=True)
class SupportReport:
    meta: Meta
    warn_days: int
    rows: tuple[SupportRow, ...]
    """Grouped (OS, middleware, library), then by product, cycle, name."""

    def group(self, group: Group) -> tuple[SupportRow, ...]:
        return tuple(r for r in self.rows if r.group is group)

    @property
    def attention(self) -> tuple[SupportRow, ...]:
        """Ended first, then ending, each soonest end first."""
        rows = [r for r in self.rows if r.needs_attention]
        return tuple(sorted(rows, key=lambda r: (r.status is not Status.ENDED, r.days_left or 0)))

    def count(self, status: Status) -> int:
        return sum(1 for r in self.rows if r.status is status)


def group_of(m: eolmap.Mapping) -> Group:
    """OS: the operating system, and distribution packages no runtime or server product claims;
    middleware: what maps to a runtime, server or database product, or is an application;
    library: the rest."""
    c = m.component
    category = m.product.category if m.product else ""
    if c.kind == "operating-system" or category == "os":
        return Group.OS
    if category in _MIDDLEWARE_CATEGORIES:
        return Group.MIDDLEWARE
    if c.ecosystem in (DEBIAN, UBUNTU) or c.purl.startswith("pkg:deb/"):
        return Group.OS
    if c.kind in ("application", "platform", "container"):
        return Group.MIDDLEWARE
    return Group.LIBRARY


def _support_note(a: eolmap.Assessment) -> str:
    m, c = a.mapping, a.mapping.component
    match a.status:
        case Status.NOT_TRACKED if c.distro:
            return f"{c.distro} の配布パッケージ。個別のサポート期間データなし"
        case Status.UNKNOWN_CYCLE:
            return f"{m.product.title if m.product else ''} に {m.wanted} のサイクルなし"
        case _:
            return ""


def support_report(
    inventory: Inventory,
    catalogue: Catalogue,
    *,
    meta: Meta,
    warn_days: int,
    plans: Sequence[Plan] = (),
) -> SupportReport:
    """Every component of `inventory`, with its support period on `meta.today` and the plan
    recorded for it (:func:`mamori.vuln.eolplans.plan_for`)."""
    rows = []
    for a in eolmap.check(list(inventory.components), catalogue, meta.today, warn_days):
        m, c, cy = a.mapping, a.mapping.component, a.mapping.cycle
        plan = plan_for(plans, m.product.name if m.product else "", cy.cycle if cy else "",
                        c.name)  # fmt: skip
        rows.append(
            SupportRow(group_of(m), c.name, c.version, c.ecosystem, c.purl,
                       m.product.title if m.product else "", cy.cycle if cy else "",
                       cy.release_date if cy else None, cy.eoas if cy else None, a.eol,
                       cy.eoes if cy else None, a.status, a.days_left, _support_note(a),
                       plan.cell() if plan else PLAN_UNWRITTEN)
        )  # fmt: skip
    order = list(Group)
    rows.sort(key=lambda r: (order.index(r.group), r.product == "", r.product.casefold(),
                             r.cycle, r.name.casefold(), r.version))  # fmt: skip
    return SupportReport(meta, warn_days, tuple(rows))


# --- 脆弱性対策状況報告書 (CLD-9) ------------------------------------------------------------

SEVERITY_ORDER: Final = (Label.CRITICAL, Label.HIGH, Label.MEDIUM, Label.LOW, Label.NONE,
                         Label.UNKNOWN)  # fmt: skip


def severity_of(value: str) -> Label:
    try:
        return Label(value)
    except ValueError:
        return Label.UNKNOWN


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding, judged on the report's day, with its history."""

    record: Record
    severity: Label
    score: float | None
    """CVSS base score from the advisory database, when it agrees with the stored label."""
    overdue: bool
    days_late: int
    history: tuple[HistoryEntry, ...]

    @property
    def on_time(self) -> bool | None:
        """Whether the recorded fix met the deadline; None without a fix."""
        fix = self.record.fix
        return None if fix is None else fixed_on_time(fix, self.record.deadline)


@dataclass(frozen=True, slots=True)
class CountermeasureReport:
    meta: Meta
    rows: tuple[FindingRow, ...]
    """Overdue first (most days late first), then by deadline, severity, component."""

    def count(self, severity: Label | None = None, state: State | None = None) -> int:
        return sum(
            1
            for r in self.rows
            if severity in (None, r.severity) and state in (None, r.record.state)
        )

    def overdue_count(self, severity: Label | None = None) -> int:
        return sum(1 for r in self.rows if r.overdue and severity in (None, r.severity))


def countermeasure_report(
    records: Sequence[Record],
    histories: Mapping[Key, Sequence[HistoryEntry]],
    scores: Mapping[Key, float | None],
    *,
    meta: Meta,
) -> CountermeasureReport:
    """Every finding of the system, judged on `meta.today`."""
    rows = []
    for r in records:
        late = r.overdue(meta.today)
        rows.append(
            FindingRow(r, severity_of(r.severity), scores.get(r.key), late,
                       (meta.today - r.deadline).days if late else 0,
                       tuple(histories.get(r.key, ())))
        )  # fmt: skip
    rows.sort(key=lambda f: (not f.overdue, -f.days_late, f.record.deadline,
                             SEVERITY_ORDER.index(f.severity), f.record.key))  # fmt: skip
    return CountermeasureReport(meta, tuple(rows))


# --- ライセンス一覧 (IP-4) -------------------------------------------------------------------


class Attention(StrEnum):
    """Licences that commonly need a closer look before distribution or service use."""

    AGPL = "agpl"
    GPL = "gpl"
    LGPL = "lgpl"
    SSPL = "sspl"
    PROPRIETARY = "proprietary"
    UNKNOWN = "unknown"


_OPERATORS = re.compile(r"\s+(?:AND|OR|WITH)\s+|[()]", re.IGNORECASE)
_UNKNOWN_WORDS: Final = frozenset({"", "unknown", "noassertion", "none", "other", NO_LICENCE})


def attention(licence: str) -> tuple[Attention, ...]:
    """The flags of one licence as stated (an SPDX id or expression, a Debian short name such
    as ``GPL-2+``, free text): one per kind found among its terms."""
    found: list[Attention] = []
    for term in (t.strip() for t in _OPERATORS.split(licence) if t and t.strip()):
        low = term.casefold()
        flag = (
            Attention.AGPL if low.startswith("agpl")
            else Attention.LGPL if low.startswith("lgpl")
            else Attention.GPL if low.startswith("gpl")
            else Attention.SSPL if low.startswith("sspl")
            else Attention.PROPRIETARY
            if low.startswith("licenseref-") or "proprietary" in low or "commercial" in low
            else Attention.UNKNOWN if low in _UNKNOWN_WORDS
            else None
        )  # fmt: skip
        if flag is not None and flag not in found:
            found.append(flag)
    return tuple(found) if licence.strip() else (Attention.UNKNOWN,)


@dataclass(frozen=True, slots=True)
class LicenceRow:
    name: str
    version: str
    ecosystem: str
    purl: str
    found_in: str
    licences: tuple[str, ...]
    """As stated; (NO_LICENCE,) when the component states none."""
    flags: tuple[Attention, ...]


@dataclass(frozen=True, slots=True)
class LicenceCount:
    licence: str
    components: int
    flags: tuple[Attention, ...]


@dataclass(frozen=True, slots=True)
class LicenceReport:
    meta: Meta
    rows: tuple[LicenceRow, ...]
    counts: tuple[LicenceCount, ...]
    """Per licence as stated, most components first."""

    @property
    def flagged(self) -> int:
        return sum(1 for r in self.rows if r.flags)


def licence_report(inventory: Inventory, *, meta: Meta) -> LicenceReport:
    """Every component of `inventory` with its licences; a count per licence."""
    rows = []
    for c in sorted(inventory.components, key=lambda c: (c.name.casefold(), c.version, c.purl)):
        lics = c.licenses or (NO_LICENCE,)
        flags = tuple(dict.fromkeys(f for lic in lics for f in attention(lic)))
        rows.append(LicenceRow(c.name, c.version, c.ecosystem, c.purl, c.found_in, lics, flags))
    tally = Counter(lic for r in rows for lic in dict.fromkeys(r.licences))
    counts = tuple(
        LicenceCount(lic, n, attention(lic))
        for lic, n in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0].casefold()))
    )
    return LicenceReport(meta, tuple(rows), counts)


Report = SupportReport | CountermeasureReport | LicenceReport


def catalogue_source(cat: Catalogue) -> Source:
    """The end-of-life catalogue as a report's data source."""
    try:
        imported: dt.datetime | None = dt.datetime.fromisoformat(cat.imported_at)
    except ValueError:
        imported = None
    return Source("サポート期間データ（endoflife.date）", cat.source, cat.data_date, imported,
                  cat.sha256, f"{len(cat.products)} 製品")  # fmt: skip
