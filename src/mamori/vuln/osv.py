"""OSV advisory records as values (pure).

:func:`parse` reads one record of the OSV schema (https://ossf.github.io/osv-schema/), already
loaded from JSON or YAML, into frozen dataclasses. It keeps what matching, severity and reports
need and checks the shape of that much strictly: a record that cannot be read correctly is an
error naming the file, never a record silently read as "affects nothing".

YAML note: load OSV YAML with ``yaml.BaseLoader`` (every scalar a string). ``safe_load`` turns an
unquoted version such as ``1.10`` into the float ``1.1``; :func:`parse` refuses non-string versions
rather than guess. Timestamps that a YAML loader turned into ``datetime`` are accepted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeGuard

from mamori.vuln.errors import VulnError

DETAILS_MAX = 1000
"""Characters of ``details`` kept: reports show the summary and link to the record; a database
of 100k records should not hold every write-up in memory."""

_SCHEMA = "https://ossf.github.io/osv-schema/"


class RangeType(StrEnum):
    """How a range's event versions are ordered (OSV ``affected[].ranges[].type``)."""

    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"
    GIT = "GIT"


class EventKind(StrEnum):
    """What an event marks (OSV ``affected[].ranges[].events[]``)."""

    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class Event:
    """One point of a range."""

    kind: EventKind
    value: str
    """A version (or a commit hash for GIT ranges); ``introduced: "0"`` means "from the start"."""


@dataclass(frozen=True, slots=True)
class Range:
    """A range of affected versions, described by events."""

    type: RangeType
    events: tuple[Event, ...]
    repo: str = ""
    """GIT ranges: the repository the commits belong to."""


@dataclass(frozen=True, slots=True)
class SeverityEntry:
    """One OSV ``severity`` entry: a score type and its value (usually a CVSS vector)."""

    type: str
    """``CVSS_V2``, ``CVSS_V3``, ``CVSS_V4``, ``Ubuntu``, …"""
    score: str


@dataclass(frozen=True, slots=True)
class Affected:
    """One ``affected[]`` entry: a package and which of its versions are affected."""

    ecosystem: str
    """As the record states it, e.g. ``PyPI``, ``Debian:12``; "" when the entry has no package."""
    base_ecosystem: str
    """The ecosystem without release suffix: ``Debian`` for ``Debian:12``."""
    release: str
    """The release suffix: ``12`` for ``Debian:12``, ``22.04:LTS`` for ``Ubuntu:22.04:LTS``; ""."""
    name: str
    purl: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    """Affected versions listed one by one."""
    severities: tuple[SeverityEntry, ...] = ()
    """``affected[].severity`` (OSV 1.5): overrides the record's for this package."""
    severity_text: str = ""
    """A qualitative severity from ``ecosystem_specific``/``database_specific`` (``severity`` or
    Debian's ``urgency``), as written; "" when none."""


@dataclass(frozen=True, slots=True)
class Advisory:
    """One OSV record."""

    id: str
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    summary: str
    details: str
    """At most :data:`DETAILS_MAX` characters of the record's ``details``."""
    published: str
    modified: str
    withdrawn: str
    """When the record was withdrawn (ISO 8601); "" when it stands."""
    severities: tuple[SeverityEntry, ...]
    affected: tuple[Affected, ...]
    references: tuple[str, ...]
    """Reference URLs, in the record's order."""
    severity_text: str = ""
    """``database_specific.severity`` (e.g. GHSA's ``MODERATE``), as written; "" when none."""

    @property
    def ids(self) -> tuple[str, ...]:
        """The record's own id followed by its aliases."""
        return (self.id, *self.aliases)


def _is_map(value: object) -> TypeGuard[Mapping[Any, Any]]:
    # isinstance against the Mapping ABC is slow; records are almost always plain dicts.
    return type(value) is dict or isinstance(value, Mapping)


_EVENT_KINDS = {k.value: k for k in EventKind}
_RANGE_TYPES = {t.value: t for t in RangeType}


class _Malformed(Exception):
    """Internal: carries a reason up to :func:`parse`, which adds where."""


def parse(doc: object, where: str) -> Advisory:
    """Read one OSV record; `where` (a file name, a URL) is named in any error.

    Raises :class:`VulnError` when the record is malformed: not an object, no ``id``,
    ``affected`` not a list, an event that is not exactly one of ``introduced``/``fixed``/
    ``last_affected``/``limit`` with a string version, and so on.
    """
    try:
        return _advisory(doc)
    except _Malformed as e:
        raise VulnError(
            f"{where}: not a valid OSV record: {e}",
            hint=f"the record must follow the OSV schema ({_SCHEMA}); refresh the advisory "
            "database, or remove or correct this record",
        ) from None


def _advisory(doc: object) -> Advisory:
    if not _is_map(doc):
        raise _Malformed(f"expected an object, got {_kind(doc)}")
    rid = doc.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise _Malformed("'id' is missing or not a non-empty string")
    affected = tuple(
        _affected(item, f"affected[{i}]")
        for i, item in enumerate(_list(doc, "affected", "affected"))
    )
    severity = doc.get("database_specific")
    return Advisory(
        id=rid,
        aliases=_strings(doc, "aliases", "aliases"),
        related=_strings(doc, "related", "related"),
        summary=_text(doc, "summary"),
        details=_text(doc, "details")[:DETAILS_MAX],
        published=_timestamp(doc, "published"),
        modified=_timestamp(doc, "modified"),
        withdrawn=_timestamp(doc, "withdrawn"),
        severities=_severities(doc, "severity"),
        affected=affected,
        references=tuple(
            _ref_url(item, f"references[{i}]")
            for i, item in enumerate(_list(doc, "references", "references"))
        ),
        severity_text=_severity_text(severity),
    )


def _affected(item: object, at: str) -> Affected:
    if not _is_map(item):
        raise _Malformed(f"{at} must be an object, got {_kind(item)}")
    package = item.get("package")
    if package is None:
        package = {}
    if not _is_map(package):
        raise _Malformed(f"{at}.package must be an object, got {_kind(package)}")
    ecosystem = _text(package, "ecosystem", f"{at}.package")
    name = _text(package, "name", f"{at}.package")
    if bool(ecosystem) != bool(name):
        raise _Malformed(f"{at}.package needs both 'ecosystem' and 'name'")
    base, _, release = ecosystem.partition(":")
    ranges = tuple(
        _range(r, f"{at}.ranges[{i}]") for i, r in enumerate(_list(item, "ranges", f"{at}.ranges"))
    )
    return Affected(
        ecosystem=ecosystem,
        base_ecosystem=base,
        release=release,
        name=name,
        purl=_text(package, "purl", f"{at}.package"),
        ranges=ranges,
        versions=_strings(item, "versions", f"{at}.versions"),
        severities=_severities(item, "severity", at),
        severity_text=_severity_text(item.get("ecosystem_specific"))
        or _severity_text(item.get("database_specific")),
    )


def _range(item: object, at: str) -> Range:
    if not _is_map(item):
        raise _Malformed(f"{at} must be an object, got {_kind(item)}")
    raw_type = item.get("type")
    rtype = _RANGE_TYPES.get(str(raw_type))
    if rtype is None:
        raise _Malformed(
            f"{at}.type is {raw_type!r}; expected one of {', '.join(t.value for t in RangeType)}"
        )
    events = tuple(_event(e, f"{at}.events[{i}]") for i, e in enumerate(_list(item, "events", at)))
    if not events:
        raise _Malformed(f"{at} has no events")
    if not any(e.kind is EventKind.INTRODUCED for e in events):
        raise _Malformed(f"{at} has no 'introduced' event (use \"0\" for 'from the start')")
    return Range(type=rtype, events=events, repo=_text(item, "repo", at))


def _event(item: object, at: str) -> Event:
    if not _is_map(item) or len(item) != 1:
        raise _Malformed(
            f"{at} must be an object with exactly one of introduced, fixed, last_affected, limit"
        )
    ((key, value),) = item.items()
    kind = _EVENT_KINDS.get(key) if isinstance(key, str) else None
    if kind is None:
        raise _Malformed(
            f"{at} has unknown event {key!r}; expected introduced, fixed, last_affected or limit"
        )
    if not isinstance(value, str) or not value.strip():
        raise _Malformed(f"{at}.{key} must be a non-empty string, got {_kind(value)}")
    return Event(kind, value)


def _severities(doc: Mapping[Any, Any], key: str, at: str = "") -> tuple[SeverityEntry, ...]:
    out = []
    path = f"{at}.{key}" if at else key
    for i, item in enumerate(_list(doc, key, path)):
        if not _is_map(item):
            raise _Malformed(f"{path}[{i}] must be an object, got {_kind(item)}")
        out.append(
            SeverityEntry(
                type=_text(item, "type", f"{path}[{i}]"), score=_text(item, "score", f"{path}[{i}]")
            )
        )
    return tuple(out)


def _severity_text(specific: object) -> str:
    """``severity`` or ``urgency`` from a free-form ``*_specific`` object; "" when absent."""
    if not _is_map(specific):
        return ""
    for key in ("severity", "urgency"):
        value = specific.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""


def _ref_url(item: object, at: str) -> str:
    if not _is_map(item):
        raise _Malformed(f"{at} must be an object, got {_kind(item)}")
    return _text(item, "url", at)


def _list(doc: Mapping[Any, Any], key: str, at: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"'{at}' must be a list, got {_kind(value)}")
    return value


def _strings(doc: Mapping[Any, Any], key: str, at: str) -> tuple[str, ...]:
    items = _list(doc, key, at)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise _Malformed(
                f"'{at}[{i}]' must be a string, got {_kind(item)} {item!r} (YAML: load with "
                "yaml.BaseLoader so that versions such as 1.10 stay strings)"
            )
    return tuple(items)


def _text(doc: Mapping[Any, Any], key: str, at: str = "") -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"'{f'{at}.' if at else ''}{key}' must be a string, got {_kind(value)}")
    return value


def _timestamp(doc: Mapping[Any, Any], key: str) -> str:
    value = doc.get(key)
    if isinstance(value, dt.date):  # also datetime
        return value.isoformat()
    return _text(doc, key)


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
