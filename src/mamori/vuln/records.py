"""One OSV record checked and made ready for the store (pure). See docs/vuln-database.md.

:func:`prepare` checks what the store indexes (id, dates, aliases, packages) and serialises the
record as sorted-key compact JSON; the dates are normalised to a fixed-width UTC form so that
they compare as strings.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from typing import Any, Final, NamedTuple

import orjson

from mamori.vuln import matchform
from mamori.vuln.errors import VulnError

_PEP503 = re.compile(r"[-_.]+")
_FRACTION = re.compile(r"(\.\d{6})\d+")
_UTC_FORM = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.(\d{1,6}))?Z")
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


class InvalidRecord(VulnError):
    """One record is not a usable OSV record; the importer reports it and goes on."""


@lru_cache(maxsize=1 << 16)
def normalise_name(ecosystem: str, name: str) -> str:
    """The name the index uses: PEP 503 for PyPI (``Foo_Bar`` → ``foo-bar``), else as given.
    Cached: an export names the same packages in thousands of records."""
    if ecosystem.partition(":")[0] == "PyPI":
        return _PEP503.sub("-", name).lower()
    return name


def parse_time(text: str) -> dt.datetime:
    """An RFC 3339 date from a record, in UTC; a time without a zone is taken as UTC.

    Raises ValueError.
    """
    # datetime.fromisoformat (3.11) takes at most microseconds; OSV allows nanoseconds.
    t = dt.datetime.fromisoformat(_FRACTION.sub(r"\1", text))
    if t.tzinfo is None:
        return t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC)


def format_time(t: dt.datetime) -> str:
    """A fixed-width UTC form, so that stored dates compare as strings."""
    return t.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def _time_field(record: dict[str, Any], key: str, required: bool) -> str | None:
    value = record.get(key)
    if value is None:
        if required:
            raise InvalidRecord(f"no {key!r} date")
        return None
    if not isinstance(value, str):
        raise InvalidRecord(f"{key!r} is not a string: {value!r:.60}")
    try:
        return _stamp(value)
    except (ValueError, OverflowError) as e:
        raise InvalidRecord(f"{key!r} is not an RFC 3339 date: {value!r:.60}") from e


@lru_cache(maxsize=1 << 12)
def _stamp(value: str) -> str:
    """`value` in the stored form; ValueError or OverflowError when it is not RFC 3339. Cached:
    exports often date thousands of records alike (a failure is not cached, and raises again)."""
    if fast := _UTC_FORM.fullmatch(value):
        # The common form: checked by fromisoformat, rewritten without strftime (slow).
        dt.datetime.fromisoformat(value)
        return f"{value[:19]}.{(fast.group(1) or '').ljust(6, '0')}Z"
    return format_time(parse_time(value))


class Prepared(NamedTuple):
    """One record checked and ready to store. A named tuple, not a dataclass: the importer's
    workers send these to the writing process, and tuples pickle in half the time."""

    id: str
    modified: str
    """Normalised UTC (``2024-01-02T03:04:05.000000Z``)."""
    withdrawn: str | None
    packages: tuple[tuple[str, str], ...]
    """(ecosystem, normalised name) keys, base ecosystems included."""
    aliases: tuple[str, ...]
    data: bytes
    """The record as sorted-key compact JSON."""
    form: bytes
    """Its match form (:mod:`mamori.vuln.matchform`): what a scan reads, checked."""


def prepare(record: object) -> Prepared:
    """Check one OSV record and extract what the store indexes; InvalidRecord says why not."""
    if not isinstance(record, dict):
        raise InvalidRecord(f"a record is a JSON object, not {type(record).__name__}")
    rid = record.get("id")
    if not isinstance(rid, str) or not rid.strip():
        raise InvalidRecord(
            "no 'id'" if rid is None else f"'id' is not a usable string: {rid!r:.60}"
        )
    modified = _time_field(record, "modified", True)
    assert modified is not None
    withdrawn = _time_field(record, "withdrawn", False)
    aliases = record.get("aliases", [])
    aliases = [] if aliases is None else aliases
    if not isinstance(aliases, list) or not all(map(str.__instancecheck__, aliases)):
        raise InvalidRecord("'aliases' is not a list of strings")
    affected = record.get("affected", [])
    affected = [] if affected is None else affected
    if not isinstance(affected, list):
        raise InvalidRecord("'affected' is not a list")
    keys: dict[tuple[str, str], None] = {}
    for i, entry in enumerate(affected):
        if not isinstance(entry, dict):
            raise InvalidRecord(f"affected[{i}] is not an object")
        pkg = entry.get("package")
        if pkg is None:
            continue  # OSV allows GIT-only entries, which name no package
        if not isinstance(pkg, dict):
            raise InvalidRecord(f"affected[{i}].package is not an object")
        eco, name = pkg.get("ecosystem"), pkg.get("name")
        if not isinstance(eco, str) or not eco or not isinstance(name, str) or not name:
            raise InvalidRecord(f"affected[{i}].package needs an ecosystem and a name")
        keys[(eco, normalise_name(eco, name))] = None
        base = eco.partition(":")[0]
        if base != eco:
            keys[(base, normalise_name(base, name))] = None
    try:
        data = orjson.dumps(record, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as e:
        raise InvalidRecord(f"the record is not plain JSON: {e}") from e
    return Prepared(
        rid,
        modified,
        withdrawn,
        tuple(keys),
        tuple(dict.fromkeys(aliases)),
        data,
        matchform.build(record, rid),
    )
