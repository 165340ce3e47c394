"""The checks every change of this package makes on the values it is given (pure).

Text is cleaned the same way for incidents, reviews and tickets (:func:`clean_text`); times must
carry their zone; a breach needs every LAW-4 field. Each refusal is an
:class:`~mamori.incidents.errors.IncidentsError` that says what to do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import BREACH_FIELDS, BreachDetails, Level

SEVERITIES: Final = ("informational", "low", "medium", "high", "critical")
"""Sigma levels, lowest first (alert severities)."""

SEVERITY_LEVELS: Final[dict[str, tuple[Level, Level]]] = {
    "critical": (Level.HIGH, Level.HIGH),
    "high": (Level.HIGH, Level.MEDIUM),
    "medium": (Level.MEDIUM, Level.MEDIUM),
    "low": (Level.LOW, Level.MEDIUM),
    "informational": (Level.LOW, Level.LOW),
}
"""(urgency, impact) an incident starts with, from its most severe alert; both can be changed."""

LEVEL_RANK: Final = {Level.LOW: 0, Level.MEDIUM: 1, Level.HIGH: 2}

MAX_TITLE: Final = 200
MAX_TEXT: Final = 20_000
MAX_NAME: Final = 200
"""An actor, requester or assignee."""


def severity_rank(severity: str) -> int:
    """0 (informational) … 4 (critical); an unknown level ranks as medium."""
    return SEVERITIES.index(severity) if severity in SEVERITIES else 2


def clean_text(
    value: str, what: str, limit: int = MAX_TEXT, *, required: bool = False, line: bool = False
) -> str:
    """`value` with its line breaks as LF, stripped and checked: not empty when `required`, at
    most `limit` characters, no control characters but LF and tab (with `line`, neither: titles
    and subjects go into mail subjects).

    CRLF and a lone CR become LF first: browsers send a textarea's line breaks as CRLF (HTML,
    "constructing the entry list"), and so do API clients and text pasted on Windows.
    """
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not value:
        raise IncidentsError(f"{what} is empty", hint=f"give {what}")
    if len(value) > limit:
        raise IncidentsError(
            f"{what} is {len(value)} characters long", hint=f"keep it to {limit} characters"
        )
    if any((ord(c) < 32 and (line or c not in "\n\t")) or c == "\x7f" for c in value):
        raise IncidentsError(
            f"{what} holds control characters{' or line breaks' if line else ''}",
            hint="remove them",
        )
    return value


def clean_actor(actor: str) -> str:
    """Who makes a change (`--as`): one line, not empty."""
    return clean_text(actor, "the actor (--as)", MAX_NAME, required=True, line=True)


def aware(t: dt.datetime, what: str) -> dt.datetime:
    """`t`, which must carry its time zone."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise IncidentsError(f"{what} must carry its time zone", hint="e.g. 2026-11-27T10:15+09:00")
    return t


def check_breach(b: BreachDetails) -> BreachDetails:
    """Every LAW-4 field given (the number of persons may be unknown: None)."""
    missing = [f"{name} ({ja})" for name, ja in BREACH_FIELDS if not getattr(b, name).strip()]
    if missing:
        raise IncidentsError(
            f"a personal-information breach needs {', '.join(missing)} (LAW-4)",
            hint="write what is known now (e.g. 調査中); update it as the facts come in",
        )
    if not [d for d in b.data_items if d.strip()]:
        raise IncidentsError(
            "a personal-information breach needs the data items concerned (LAW-4)",
            hint="e.g. --data-item 氏名 --data-item メールアドレス (調査中 while unknown)",
        )
    if b.persons_affected is not None and b.persons_affected < 0:
        raise IncidentsError("the number of persons affected cannot be negative")
    texts: dict[str, Any] = {name: clean_text(getattr(b, name), ja) for name, ja in BREACH_FIELDS}
    return replace(
        b,
        **texts,
        data_items=tuple(d.strip() for d in b.data_items if d.strip()),
    )


def uniq(*groups: Sequence[str]) -> tuple[str, ...]:
    """The non-empty values of `groups`, stripped, each once, in order."""
    return tuple(dict.fromkeys(v.strip() for g in groups for v in g if v.strip()))
