"""How bad a vulnerability is: a qualitative label and, where a CVSS vector exists, its score.

Sources, in order of preference:

1. CVSS vectors in the record's ``severity`` (or, for one package, ``affected[].severity``): the
   newest CVSS version that parses wins (``CVSS_V4`` > ``CVSS_V3`` > ``CVSS_V2``), its base score
   computed with the ``cvss`` library, and the label from that score per the CVSS specification
   (v3.1 and v4.0 §"Qualitative Severity Rating Scale": none 0.0, low 0.1–3.9, medium 4.0–6.9,
   high 7.0–8.9, critical 9.0–10.0; v2 per NVD: low < 4.0, medium < 7.0, high otherwise).
2. A qualitative word: an ``Ubuntu`` severity entry, ``database_specific.severity`` (GHSA's
   ``LOW``/``MODERATE``/``HIGH``/``CRITICAL``), or Debian's ``urgency`` (``unimportant``, ``low``,
   ``medium``, ``high``).
3. Otherwise ``unknown``.

A malformed vector is never a crash: it is skipped and the next source is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any, assert_never

from cvss import CVSS2, CVSS3, CVSS4  # type: ignore[import-untyped]
from cvss.exceptions import CVSSError  # type: ignore[import-untyped]

from mamori.vuln.osv import Advisory, Affected, SeverityEntry


class Label(StrEnum):
    """Qualitative severity."""

    UNKNOWN = "unknown"
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Order for "worst of": unknown sorts below none (a known score is preferred)."""
        match self:
            case Label.UNKNOWN:
                return 0
            case Label.NONE:
                return 1
            case Label.LOW:
                return 2
            case Label.MEDIUM:
                return 3
            case Label.HIGH:
                return 4
            case Label.CRITICAL:
                return 5
            case _:
                assert_never(self)


@dataclass(frozen=True, slots=True)
class Rating:
    """A severity: its label, the CVSS base score when known, and where it came from."""

    label: Label
    score: float | None = None
    source: str = ""
    """``CVSS_V3``, ``database_specific``, ``Ubuntu``, …; "" for unknown."""

    @property
    def order(self) -> tuple[int, float]:
        """Sort key: worse ratings sort higher."""
        return (self.label.rank, -1.0 if self.score is None else self.score)


UNKNOWN = Rating(Label.UNKNOWN)

# GHSA (database_specific.severity), Ubuntu priorities, Debian urgency, CVSS words.
_WORDS: dict[str, Label] = {
    "none": Label.NONE,
    "negligible": Label.LOW,
    "unimportant": Label.LOW,
    "low": Label.LOW,
    "moderate": Label.MEDIUM,
    "medium": Label.MEDIUM,
    "high": Label.HIGH,
    "important": Label.HIGH,
    "critical": Label.CRITICAL,
}

_VECTOR_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


def label_for_score(score: float) -> Label:
    """The CVSS v3.1/v4.0 qualitative rating of a base score."""
    if score <= 0.0:
        return Label.NONE
    if score < 4.0:
        return Label.LOW
    if score < 7.0:
        return Label.MEDIUM
    if score < 9.0:
        return Label.HIGH
    return Label.CRITICAL


def label_for_text(text: str) -> Label:
    """A qualitative word (``MODERATE``, ``high``, ``unimportant``…) as a label; ``unknown``
    for anything else (e.g. Debian's ``not yet assigned``)."""
    return _WORDS.get(text.strip().casefold(), Label.UNKNOWN)


@lru_cache(maxsize=1 << 14)
def from_vector(kind: str, vector: str) -> Rating | None:
    """Score a ``CVSS_V2``/``CVSS_V3``/``CVSS_V4`` vector; ``None`` when it is malformed or the
    type is not a CVSS vector. Cached: the ``cvss`` library takes ~50 µs a vector, and a scan
    rates the same few thousand vectors for many components."""
    try:
        calc: Any
        if kind == "CVSS_V4":
            calc = CVSS4(vector)
            score = float(calc.base_score)
            return Rating(label_for_score(score), score, kind)
        if kind == "CVSS_V3":
            calc = CVSS3(vector)
            score = float(calc.scores()[0])
            return Rating(label_for_score(score), score, kind)
        if kind == "CVSS_V2":
            calc = CVSS2(vector)
            score = float(calc.scores()[0])
            # NVD's v2 scale has no "none" or "critical".
            label = Label.LOW if score < 4.0 else Label.MEDIUM if score < 7.0 else Label.HIGH
            return Rating(label, score, kind)
    # The cvss library raises its own errors for malformed vectors, and plain ones
    # (ValueError, KeyError, TypeError…) for some oddities: none of them may end a scan.
    except (CVSSError, ArithmeticError, LookupError, TypeError, ValueError, AttributeError):
        return None
    return None


def from_entries(entries: tuple[SeverityEntry, ...]) -> Rating | None:
    """The rating of the best-preferred vector among OSV ``severity`` entries, else of a
    qualitative entry (e.g. ``Ubuntu``); ``None`` when there is neither."""
    for kind in _VECTOR_PREFERENCE:
        for entry in entries:
            if entry.type == kind:
                rating = from_vector(kind, entry.score)
                if rating is not None:
                    return rating
    for entry in entries:
        label = label_for_text(entry.score)
        if label is not Label.UNKNOWN:
            return Rating(label, None, entry.type)
    return None


def rate(advisory: Advisory, affected: Affected | None = None) -> Rating:
    """The severity of `advisory`, for one of its packages when `affected` is given (that
    entry's own severity takes precedence over the record's)."""
    if affected is not None:
        rating = from_entries(affected.severities)
        if rating is not None:
            return rating
    rating = from_entries(advisory.severities)
    if rating is not None:
        return rating
    if affected is not None and affected.severity_text:
        label = label_for_text(affected.severity_text)
        if label is not Label.UNKNOWN:
            return Rating(label, None, "ecosystem_specific")
    if advisory.severity_text:
        label = label_for_text(advisory.severity_text)
        if label is not Label.UNKNOWN:
            return Rating(label, None, "database_specific")
    return UNKNOWN


def worst(ratings: list[Rating]) -> Rating:
    """The worst of several ratings (``unknown`` when there are none)."""
    return max(ratings, key=lambda r: r.order, default=UNKNOWN)
