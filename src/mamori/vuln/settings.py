"""`[vuln]` in mamori.toml: how old the advisory data may be, how early end of life is warned
about, and the fix deadline of each severity (SEC-2, SEC-3, CLD-9). See docs/vuln-decisions.md.

Every value is checked here; a wrong one is named with its key and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Final

from mamori.configcheck import ConfigError, integer, no_extra, section

SECTIONS: Final = ("vuln",)

TEMPLATE: Final = """
# ---- Vulnerabilities and support periods (docs/vuln.md) --------------------------------
[vuln]
# SEC-2: advisory data older than this many days is stale; a scan over it is not "clean".
max_db_age_days = 2
# SEC-3: warn this many days before a component's support (end of life) ends.
eol_warn_days = 180
# SEC-2, CLD-9: days from detection to fix, by severity. Government security standards ask
# that known vulnerabilities be fixed promptly and that the decision on each one be kept
# (対応方針と期限); the contract's 運用保守 schedule usually states these periods.
# A deadline is met through its last day (docs/vuln-decisions.md). A finding of unknown
# severity gets the `high` period; one rated none gets the `low` period.
[vuln.deadline_days]
critical = 7
high = 30
medium = 90
low = 180
"""
"""This section's part of the config file `mamori init` writes."""

MAX_DAYS: Final = 3650
"""Ten years: a longer period is surely a typing mistake."""

SEVERITIES: Final = ("critical", "high", "medium", "low")
"""The severities with a deadline of their own, most urgent first."""


@dataclass(frozen=True, slots=True)
class DeadlineDays:
    """`[vuln.deadline_days]`: days from detection to fix, per severity."""

    critical: int = 7
    high: int = 30
    medium: int = 90
    low: int = 180

    def for_severity(self, label: str) -> int:
        """The period for a severity label (``critical`` … ``low``, ``none``, ``unknown``):
        ``unknown`` (and anything unrecognised) takes ``high``'s — an unrated vulnerability is
        not assumed mild (fail closed) —, ``none`` takes ``low``'s."""
        match label:
            case "critical":
                return self.critical
            case "high":
                return self.high
            case "medium":
                return self.medium
            case "low" | "none":
                return self.low
            case _:
                return self.high


@dataclass(frozen=True, slots=True)
class VulnConfig:
    """The `[vuln]` section."""

    max_db_age_days: int = 2
    eol_warn_days: int = 180
    deadline_days: DeadlineDays = field(default_factory=DeadlineDays)


def parse(raw: dict[str, Any], where: str) -> VulnConfig:
    """Check `[vuln]`."""
    sec = section(raw, "vuln", where)
    no_extra(sec, "vuln", {"max_db_age_days", "eol_warn_days", "deadline_days"}, where)
    d = VulnConfig()
    return VulnConfig(
        max_db_age_days=integer(sec, "vuln", "max_db_age_days", d.max_db_age_days, 1, 365, where),
        eol_warn_days=integer(sec, "vuln", "eol_warn_days", d.eol_warn_days, 0, MAX_DAYS, where),
        deadline_days=_deadlines(sec.get("deadline_days", {}), where),
    )


def _deadlines(value: Any, where: str) -> DeadlineDays:
    name = "vuln.deadline_days"
    if not isinstance(value, dict):
        raise ConfigError(
            f"{where}: [{name}] must be a table",
            hint="write it as [vuln.deadline_days] with critical = 7, high = 30, ...",
        )
    no_extra(value, name, set(SEVERITIES), where)
    d = DeadlineDays()
    days = [integer(value, name, s, getattr(d, s), 1, MAX_DAYS, where) for s in SEVERITIES]
    for (worse, w), (milder, m) in pairwise(zip(SEVERITIES, days, strict=True)):
        if w > m:
            raise ConfigError(
                f"{where}: [{name}] {worse} = {w} is longer than {milder} = {m}",
                hint=f"a worse severity is fixed sooner: make {worse} at most {m} days",
            )
    return DeadlineDays(*days)
