"""The *match form* of an OSV record: what matching reads, checked once at import (pure).

A scan looks up thousands of records and most of them affect none of the versions installed.
Reading each whole record and checking it with :func:`mamori.vuln.osv.parse` on every scan cost
most of a scan's time, so the store keeps beside each record its match form: the fields
matching reads (``id``, ``aliases``, ``withdrawn`` and every ``affected[]`` entry's package,
ranges, versions and severities), already checked, as compact JSON. :func:`decode` turns it
into the same :class:`~mamori.vuln.osv.Advisory` that ``parse`` gives for that part of the
record, without checking again. The rest of a record (summary, severity, references) is read
only for the records that hit a component.

:func:`build` makes the form. Its fast path checks the record's shape in one pass; anything it
does not accept is handed to ``parse``, which decides: a record ``parse`` accepts is encoded
from its :class:`~mamori.vuln.osv.Advisory`, and one it refuses is stored as that error, so the
scan reports exactly what it would have reported reading the record itself. A test checks, on
every real record and on mutated ones, that ``decode(build(r))`` equals ``parse`` of the
matching fields.

Form: ``[id, aliases, withdrawn, entries]``; an entry ``[ecosystem, name, purl, ranges,
versions, severities, severity_text]``; a range ``[type, repo, [[kind, value], ...]]``; a
severity ``[type, score]``. A record that cannot be read: ``{"error": message}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from mamori.vuln.errors import VulnError
from mamori.vuln.osv import (
    Advisory,
    Affected,
    Event,
    EventKind,
    Range,
    RangeType,
    SeverityEntry,
    parse,
)

FIELDS: Final = ("id", "aliases", "withdrawn", "affected")
"""The record's fields matching reads; :func:`view` keeps only these."""

_KINDS: Final = {k.value: k for k in EventKind}
_TYPES: Final = {t.value: t for t in RangeType}
_SPECIFIC: Final = ("ecosystem_specific", "database_specific")


class _Slow(Exception):
    """Internal: the fast path does not accept this record; ``parse`` decides."""


def view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `doc` that matching reads."""
    return {k: doc[k] for k in FIELDS if k in doc}


def build(doc: object, where: str) -> bytes:
    """The match form of one record (see the module); `where` names it in an error."""
    try:
        return orjson.dumps(_fast(doc))
    except _Slow:
        pass
    try:
        return encode(parse(view(doc) if isinstance(doc, Mapping) else doc, where))
    except VulnError as e:
        return orjson.dumps({"error": e.message})


def encode(adv: Advisory) -> bytes:
    """The form of an advisory's matching fields."""
    return orjson.dumps(
        [
            adv.id,
            adv.aliases,
            adv.withdrawn,
            [
                [
                    a.ecosystem,
                    a.name,
                    a.purl,
                    [
                        [r.type.value, r.repo, [[e.kind.value, e.value] for e in r.events]]
                        for r in a.ranges
                    ],
                    a.versions,
                    [[s.type, s.score] for s in a.severities],
                    a.severity_text,
                ]
                for a in adv.affected
            ],
        ]
    )


def decode(form: bytes) -> Advisory | VulnError:
    """The advisory a form holds (its matching fields; the rest empty), or the error that
    reading the record gave."""
    value = orjson.loads(form)
    if type(value) is dict:
        return VulnError(str(value["error"]))
    rid, aliases, withdrawn, entries = value
    return Advisory(
        id=rid,
        aliases=tuple(aliases),
        related=(),
        summary="",
        details="",
        published="",
        modified="",
        withdrawn=withdrawn,
        severities=(),
        affected=tuple(_entry(*e) for e in entries),
        references=(),
    )


def _entry(
    eco: str,
    name: str,
    purl: str,
    ranges: list[list[Any]],
    versions: list[str],
    severities: list[list[str]],
    severity_text: str,
) -> Affected:
    base, _, release = eco.partition(":")
    return Affected(
        ecosystem=eco,
        base_ecosystem=base,
        release=release,
        name=name,
        purl=purl,
        ranges=tuple(
            Range(_TYPES[t], tuple(Event(_KINDS[k], v) for k, v in events), repo)
            for t, repo, events in ranges
        ),
        versions=tuple(versions),
        severities=tuple(SeverityEntry(t, s) for t, s in severities),
        severity_text=severity_text,
    )


# ---------------------------------------------------------------- the fast path


def _fast(doc: object) -> list[Any]:
    """The form, for the plain shapes; _Slow for anything else (``parse`` decides)."""
    if type(doc) is not dict:
        raise _Slow
    rid = doc.get("id")
    if type(rid) is not str or not rid.strip():
        raise _Slow
    return [
        rid,
        _strings(doc.get("aliases")),
        _str(doc.get("withdrawn")),
        [_fast_entry(e) for e in _list(doc.get("affected"))],
    ]


def _fast_entry(item: object) -> list[Any]:
    if type(item) is not dict:
        raise _Slow
    package = item.get("package")
    if package is None:
        package = {}
    elif type(package) is not dict:
        raise _Slow
    eco, name, purl = (
        _str(package.get("ecosystem")),
        _str(package.get("name")),
        _str(package.get("purl")),
    )
    if bool(eco) != bool(name):
        raise _Slow
    return [
        eco,
        name,
        purl,
        [_fast_range(r) for r in _list(item.get("ranges"))],
        _strings(item.get("versions")),
        [_fast_severity(s) for s in _list(item.get("severity"))],
        _specific(item.get(_SPECIFIC[0])) or _specific(item.get(_SPECIFIC[1])),
    ]


def _fast_range(item: object) -> list[Any]:
    if type(item) is not dict:
        raise _Slow
    rtype = item.get("type")
    events = _list(item.get("events"))
    if type(rtype) is not str or rtype not in _TYPES or not events:
        raise _Slow
    out = []
    introduced = False
    for e in events:
        if type(e) is not dict or len(e) != 1:
            raise _Slow
        ((kind, value),) = e.items()
        if type(kind) is not str or kind not in _KINDS or type(value) is not str:
            raise _Slow
        if not value.strip():
            raise _Slow
        introduced = introduced or kind == "introduced"
        out.append([kind, value])
    if not introduced:
        raise _Slow
    return [rtype, _str(item.get("repo")), out]


def _fast_severity(item: object) -> list[str]:
    if type(item) is not dict:
        raise _Slow
    return [_str(item.get("type")), _str(item.get("score"))]


def _specific(value: object) -> str:
    if type(value) is not dict:
        if value is not None and isinstance(value, Mapping):
            raise _Slow
        return ""
    for key in ("severity", "urgency"):
        text = value.get(key)
        if isinstance(text, str) and text.strip():
            return text.strip()
    return ""


def _list(value: object) -> list[Any]:
    if value is None:
        return []
    if type(value) is not list:
        raise _Slow
    return value


def _strings(value: object) -> list[str]:
    items = _list(value)
    for item in items:
        if type(item) is not str:
            raise _Slow
    return items


def _str(value: object) -> str:
    if value is None:
        return ""
    if type(value) is not str:
        raise _Slow
    return value
