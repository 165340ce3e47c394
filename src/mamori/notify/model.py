"""Notifications and their routing: pure, no I/O.

A :class:`Notification` is what a producer (alerting, escalation, incidents, the service desk)
hands to :func:`mamori.notify.queue.enqueue`. :func:`select_routes` decides which configured
routes take it; a notification with explicit recipients (`to`, used for CSIRT reports) bypasses
routing and goes by e-mail to exactly those addresses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import Any, TypeVar

from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Severity
from mamori.notify.settings import ADDRESS, NotifyConfig, Route

MAX_SUBJECT_CHARS = 998
"""RFC 5322 §2.1.1: no line of a message may exceed 998 characters."""

_Member = TypeVar("_Member", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to send: what it is about, its text, and its machine-readable payload.

    `kind` and `severity` may be given as their strings ("alert", "high"); they are checked
    and stored as :class:`Kind` and :class:`Severity`.
    """

    kind: Kind
    subject: str
    """One line, any language (encoded per RFC 2047 in e-mail)."""
    body: str
    """Plain text, any language."""
    payload: Mapping[str, Any] = field(hash=False)
    """JSON-serialisable details: the webhook body's `payload` (e.g. the alert document)."""
    severity: Severity
    rule: str | None = None
    """The id of the rule behind it, when there is one: matched against routes' `rules`."""
    to: tuple[str, ...] = ()
    """Non-empty: send by e-mail to exactly these addresses, bypassing routing."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _member(Kind, self.kind, "a notification kind"))
        object.__setattr__(self, "severity", _member(Severity, self.severity, "a severity"))
        if not self.subject.strip():
            raise NotifyError("a notification needs a subject")
        # A line break in a header would let the text add headers of its own (RFC 5322 §2.2).
        if any(c in self.subject for c in "\r\n\0"):
            raise NotifyError(
                "a notification's subject must be one line",
                hint="put further lines in the body",
            )
        if len(self.subject) > MAX_SUBJECT_CHARS:
            raise NotifyError(
                f"a notification's subject is {len(self.subject)} characters long",
                hint=f"keep it under {MAX_SUBJECT_CHARS}; put the rest in the body",
            )
        if "\0" in self.body:
            raise NotifyError("a notification's body must not contain NUL characters")
        object.__setattr__(self, "to", tuple(self.to))
        for addr in self.to:
            if not ADDRESS.match(addr):
                raise NotifyError(
                    f"{addr!r} is not an e-mail address",
                    hint="give bare addresses such as csirt@example.jp",
                )


def _member(enum: type[_Member], value: str, what: str) -> _Member:
    """`value` (a member or its string) as a member of `enum`; NotifyError when it is none."""
    try:
        return enum(value)
    except ValueError as e:
        raise NotifyError(
            f"{value!r} is not {what}", hint=f"use one of {', '.join(m.value for m in enum)}"
        ) from e


def route_takes(route: Route, n: Notification) -> bool:
    """True when `route` takes `n`: its kind, its severity (at least the route's minimum) and,
    when the route lists rules, a rule matching one of them."""
    if n.kind not in route.kinds:
        return False
    if n.severity.rank < route.min_severity.rank:
        return False
    if not route.rules:
        return True
    # fnmatchcase: the same answer on every platform (fnmatch folds case on Windows).
    return n.rule is not None and any(fnmatchcase(n.rule, glob) for glob in route.rules)


def select_routes(config: NotifyConfig, n: Notification) -> list[Route]:
    """The routes that take `n`, in configuration order; none when `n.to` names recipients."""
    if n.to:
        return []
    return [r for r in config.routes if route_takes(r, n)]
