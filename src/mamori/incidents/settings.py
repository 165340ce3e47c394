"""`[incidents]` and `[csirt]` in mamori.toml: priority matrix, targets, the CSIRT's addresses.

Every value is checked here; a wrong one is named with its key and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from mamori.configcheck import ConfigError, integer, no_extra, section, string, strings
from mamori.incidents.model import Level, Priority, Targets

SECTIONS: Final = ("incidents", "csirt")

TEMPLATE: Final = """
[incidents]
# FLT-1: urgency × impact gives the priority (ITIL's matrix). One table per urgency, one key
# per impact; values P1 (most urgent) to P5.
breach_report_minutes = 60     # LAW-4: a personal-information breach is reported at once
[incidents.priority]
high = { high = "P1", medium = "P2", low = "P3" }
medium = { high = "P2", medium = "P3", low = "P4" }
low = { high = "P3", medium = "P4", low = "P5" }
# Minutes from detection: the first response (the first step after detection), each stage
# (isolation, contacting the maintenance vendor), recovery confirmed (resolution) and the
# report. Each must be at least the one before it.
[incidents.targets]
P1 = { response_minutes = 15, isolated_minutes = 15, vendor_contacted_minutes = 30, resolution_minutes = 240, reported_minutes = 300 }
P2 = { response_minutes = 30, isolated_minutes = 30, vendor_contacted_minutes = 60, resolution_minutes = 480, reported_minutes = 540 }
P3 = { response_minutes = 120, isolated_minutes = 120, vendor_contacted_minutes = 240, resolution_minutes = 1440, reported_minutes = 1560 }
P4 = { response_minutes = 480, isolated_minutes = 480, vendor_contacted_minutes = 960, resolution_minutes = 4320, reported_minutes = 4800 }
P5 = { response_minutes = 1440, isolated_minutes = 1440, vendor_contacted_minutes = 2880, resolution_minutes = 10080, reported_minutes = 11520 }
# OPS-1: service-desk tickets, minutes from opening to the first response and to resolution.
[incidents.tickets]
P1 = { first_response_minutes = 30, resolution_minutes = 240 }
P2 = { first_response_minutes = 60, resolution_minutes = 480 }
P3 = { first_response_minutes = 240, resolution_minutes = 1440 }
P4 = { first_response_minutes = 480, resolution_minutes = 4320 }
P5 = { first_response_minutes = 1440, resolution_minutes = 10080 }

[csirt]
# FLT-4: the agency's CSIRT, to whom incident reports (第1報, 続報, 最終報告) are e-mailed.
# A breach (LAW-4) cannot be reported while `to` is empty.
to = []                        # e.g. ["csirt@agency.example.jp"]
cc = []
organisation = ""              # the agency, e.g. "○○省"
contractor = ""                # who writes the reports, e.g. "△△株式会社 運用保守チーム"
contact = ""                   # the reports' 連絡先, e.g. "運用窓口 03-0000-0000 soc@example.jp"
language = "ja"                # the reports' language (only "ja" for now)
"""

LANGUAGES: Final = ("ja",)
MAX_MINUTES: Final = 366 * 24 * 60
"""A target longer than a year is surely a typing mistake."""

_ADDRESS = re.compile(r"[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+")

DEFAULT_MATRIX: Final[dict[tuple[Level, Level], Priority]] = {
    (Level.HIGH, Level.HIGH): Priority.P1,
    (Level.HIGH, Level.MEDIUM): Priority.P2,
    (Level.HIGH, Level.LOW): Priority.P3,
    (Level.MEDIUM, Level.HIGH): Priority.P2,
    (Level.MEDIUM, Level.MEDIUM): Priority.P3,
    (Level.MEDIUM, Level.LOW): Priority.P4,
    (Level.LOW, Level.HIGH): Priority.P3,
    (Level.LOW, Level.MEDIUM): Priority.P4,
    (Level.LOW, Level.LOW): Priority.P5,
}
"""ITIL's matrix: (urgency, impact) → priority."""

DEFAULT_TARGETS: Final[dict[Priority, Targets]] = {
    Priority.P1: Targets(15, 15, 30, 240, 300),
    Priority.P2: Targets(30, 30, 60, 480, 540),
    Priority.P3: Targets(120, 120, 240, 1440, 1560),
    Priority.P4: Targets(480, 480, 960, 4320, 4800),
    Priority.P5: Targets(1440, 1440, 2880, 10080, 11520),
}


@dataclass(frozen=True, slots=True)
class TicketTargets:
    """Minutes from opening a ticket to its first response and to its resolution (OPS-1)."""

    first_response_minutes: int
    resolution_minutes: int


DEFAULT_TICKET_TARGETS: Final[dict[Priority, TicketTargets]] = {
    Priority.P1: TicketTargets(30, 240),
    Priority.P2: TicketTargets(60, 480),
    Priority.P3: TicketTargets(240, 1440),
    Priority.P4: TicketTargets(480, 4320),
    Priority.P5: TicketTargets(1440, 10080),
}


@dataclass(frozen=True, slots=True)
class CsirtConfig:
    """`[csirt]`: where incident reports go and who signs them (FLT-4)."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    organisation: str = ""
    contractor: str = ""
    contact: str = ""
    language: str = "ja"


def _matrix_items() -> tuple[tuple[Level, Level, Priority], ...]:
    return tuple((u, i, p) for (u, i), p in DEFAULT_MATRIX.items())


@dataclass(frozen=True, slots=True)
class IncidentsConfig:
    """The priority matrix, the targets of incidents and tickets, the CSIRT's addresses."""

    matrix: tuple[tuple[Level, Level, Priority], ...] = field(default_factory=_matrix_items)
    """(urgency, impact, priority) for each of the nine pairs."""
    targets: tuple[tuple[Priority, Targets], ...] = tuple(DEFAULT_TARGETS.items())
    tickets: tuple[tuple[Priority, TicketTargets], ...] = tuple(DEFAULT_TICKET_TARGETS.items())
    breach_report_minutes: int = 60
    csirt: CsirtConfig = field(default_factory=CsirtConfig)

    def priority(self, urgency: Level, impact: Level) -> Priority:
        for u, i, p in self.matrix:
            if u is urgency and i is impact:
                return p
        raise AssertionError(f"the matrix misses {urgency}×{impact}")  # parse() fills all nine

    def targets_for(self, priority: Priority) -> Targets:
        return dict(self.targets)[priority]

    def ticket_targets_for(self, priority: Priority) -> TicketTargets:
        return dict(self.tickets)[priority]


def parse(raw: dict[str, Any], where: str) -> IncidentsConfig:
    """Check `[incidents]` and `[csirt]`."""
    sec = section(raw, "incidents", where)
    no_extra(sec, "incidents", {"breach_report_minutes", "priority", "targets", "tickets"}, where)
    return IncidentsConfig(
        matrix=_matrix(sec.get("priority", {}), where),
        targets=_targets(sec.get("targets", {}), where),
        tickets=_ticket_targets(sec.get("tickets", {}), where),
        breach_report_minutes=integer(
            sec, "incidents", "breach_report_minutes", 60, 1, 24 * 60, where
        ),
        csirt=_csirt(raw, where),
    )


def _table(value: Any, name: str, where: str, example: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table", hint=f"e.g. {example}")
    return value


def _matrix(value: Any, where: str) -> tuple[tuple[Level, Level, Priority], ...]:
    name = "incidents.priority"
    sec = _table(value, name, where, 'high = { high = "P1", medium = "P2", low = "P3" }')
    no_extra(sec, name, {lv.value for lv in Level}, where)
    out: list[tuple[Level, Level, Priority]] = []
    for urgency in Level:
        row = _table(
            sec.get(urgency.value, {}),
            f"{name}.{urgency.value}",
            where,
            f'{urgency.value} = {{ high = "P1", medium = "P2", low = "P3" }}',
        )
        no_extra(row, f"{name}.{urgency.value}", {lv.value for lv in Level}, where)
        for impact in Level:
            default = DEFAULT_MATRIX[(urgency, impact)]
            text = row.get(impact.value, default.value)
            try:
                prio = Priority(text)
            except ValueError:
                raise ConfigError(
                    f"{where}: [{name}] {urgency.value}.{impact.value} = {text!r} is not a "
                    "priority",
                    hint=f'use one of P1…P5, e.g. {impact.value} = "{default.value}" in '
                    f"{urgency.value}",
                ) from None
            out.append((urgency, impact, prio))
    return tuple(out)


_STAGE_KEYS: Final = (
    "response_minutes",
    "isolated_minutes",
    "vendor_contacted_minutes",
    "resolution_minutes",
    "reported_minutes",
)


def _per_priority(
    value: Any, name: str, where: str, example: str, keys: Sequence[str]
) -> Iterator[tuple[Priority, str, dict[str, Any]]]:
    """(priority, its table's name, its table) for each priority of `[name]`."""
    sec = _table(value, name, where, f"P1 = {{ {example}, ... }}")
    no_extra(sec, name, {p.value for p in Priority}, where)
    for prio in Priority:
        key = f"{name}.{prio.value}"
        row = _table(sec.get(prio.value, {}), key, where, f"{prio.value} = {{ ... }}")
        no_extra(row, key, set(keys), where)
        yield prio, key, row


def _minutes(
    row: dict[str, Any],
    key: str,
    keys: Sequence[str],
    default: object,
    order: Sequence[tuple[str, str]],
    where: str,
) -> list[int]:
    """The minutes of `keys` in `row` (each by default the attribute of `default`); for each
    (earlier, later) in `order`, later at least earlier: the stages come in order, so must
    their due times."""
    values = [integer(row, key, k, getattr(default, k), 1, MAX_MINUTES, where) for k in keys]
    got = dict(zip(keys, values, strict=True))
    for earlier, later in order:
        if got[earlier] > got[later]:
            raise ConfigError(
                f"{where}: [{key}] {later} = {got[later]} is before {earlier} = {got[earlier]}",
                hint=f"make {later} at least {got[earlier]}",
            )
    return values


_STAGE_ORDER: Final = (
    ("response_minutes", "resolution_minutes"),
    ("isolated_minutes", "vendor_contacted_minutes"),
    ("vendor_contacted_minutes", "resolution_minutes"),
    ("resolution_minutes", "reported_minutes"),
)
"""The (earlier, later) pairs of stage targets that must come in that order."""


def _targets(value: Any, where: str) -> tuple[tuple[Priority, Targets], ...]:
    keys, order = _STAGE_KEYS, _STAGE_ORDER
    rows = _per_priority(value, "incidents.targets", where, "response_minutes = 15", keys)
    return tuple(
        (prio, Targets(*_minutes(row, key, keys, DEFAULT_TARGETS[prio], order, where)))
        for prio, key, row in rows
    )


_TICKET_KEYS: Final = ("first_response_minutes", "resolution_minutes")


def _ticket_targets(value: Any, where: str) -> tuple[tuple[Priority, TicketTargets], ...]:
    keys, order = _TICKET_KEYS, (_TICKET_KEYS,)
    rows = _per_priority(value, "incidents.tickets", where, "first_response_minutes = 30", keys)
    return tuple(
        (prio, TicketTargets(*_minutes(row, key, keys, DEFAULT_TICKET_TARGETS[prio], order, where)))
        for prio, key, row in rows
    )


def _csirt(raw: dict[str, Any], where: str) -> CsirtConfig:
    sec = section(raw, "csirt", where)
    no_extra(sec, "csirt", set(CsirtConfig.__slots__), where)
    to = strings(sec, "csirt", "to", where)
    cc = strings(sec, "csirt", "cc", where)
    for key, addrs in (("to", to), ("cc", cc)):
        for a in addrs:
            if not _ADDRESS.fullmatch(a):
                raise ConfigError(
                    f"{where}: [csirt] {key}: {a!r} is not an e-mail address",
                    hint=f'write one address per string, e.g. {key} = ["csirt@agency.example.jp"]',
                )
    language = string(sec, "csirt", "language", "ja", where)
    if language not in LANGUAGES:
        raise ConfigError(
            f"{where}: [csirt] language = {language!r} is not supported",
            hint=f"use one of {', '.join(LANGUAGES)}",
        )
    return CsirtConfig(
        to=to,
        cc=cc,
        organisation=string(sec, "csirt", "organisation", "", where),
        contractor=string(sec, "csirt", "contractor", "", where),
        contact=string(sec, "csirt", "contact", "", where),
        language=language,
    )
