"""The values the database guard's parts hand each other (pure, no I/O).

The proxy (``proxy.py``, ``session.py``) knows sessions and the wire; the SQL analysis
(``analysis.py``, ``firewall.py``) knows statements; the policies (``policy.py``) know rows and
the clock. They meet here:

* :class:`Session`: who is connected (DB-2 attribution);
* :class:`Statement`: one statement as the proxy saw it, before it runs;
* :class:`Result`: what running it gave (rows counted on the wire, duration, outcome);
* :class:`Decision`: what a check says about a statement — allow, alert or block, with reasons.

Every decision with reasons, and every statement, becomes a ledger event built by
``events.py`` (ECS: ``event.category: database``, ``event.action: query``, ``db.*``), which the
built-in rules and the alert store read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Verdict(enum.IntEnum):
    """What a check says; the strongest of several wins (``max``)."""

    ALLOW = 0
    ALERT = 1
    BLOCK = 2

    @property
    def word(self) -> str:
        """``allow``, ``alert`` or ``block``: the form in JSON and events."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a check did not simply allow: a stable code and a sentence for a person."""

    code: str
    """E.g. ``sqli.tautology``, ``firewall.unknown_fingerprint``, ``policy.rows_statement``."""
    detail: str
    clause: str = ""
    """The contract clause the check serves (DB-1 … DB-4)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """A check's verdict with its reasons (no reasons for ALLOW)."""

    verdict: Verdict = Verdict.ALLOW
    reasons: tuple[Reason, ...] = ()

    @staticmethod
    def combine(decisions: tuple[Decision, ...] | list[Decision]) -> Decision:
        """The strongest verdict, with every reason given."""
        if not decisions:
            return Decision()
        if len(decisions) == 2:  # the usual case, and the usual answer: one says nothing
            a, b = decisions
            if not b.reasons and b.verdict <= a.verdict:
                return a
            if not a.reasons and a.verdict <= b.verdict:
                return b
        verdict = max(d.verdict for d in decisions)
        return Decision(verdict, tuple(r for d in decisions for r in d.reasons))


@dataclass(frozen=True, slots=True)
class Session:
    """One client connection through the proxy (DB-2: who accessed the data)."""

    id: str
    """Unique per connection (random), ties a session's statements together."""
    database: str
    role: str
    """The database role from the startup message (the server authenticated it)."""
    application: str = ""
    """``application_name`` (startup parameter, or SET later)."""
    client_ip: str = ""
    client_port: int = 0
    tls: bool = False
    tls_client: str = ""
    """The client certificate's subject when the client presented one, else empty."""
    end_user: str = ""
    """The application's end user, when the application passed one (see ``enduser.py``)."""
    end_user_verified: bool = False
    """True when its HMAC checked out with the shared key."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One SQL statement, as the proxy saw it, before it runs."""

    session: Session
    text: str
    """The SQL as sent. Never logged as such unless configured: events carry the normalised
    form (constants removed) and the fingerprint."""
    protocol: str
    """``simple`` (Query message) or ``extended`` (Parse/Bind/Execute)."""
    at: float
    """When the proxy received it (epoch seconds)."""
    statements_in_message: int = 1
    """How many statements the Query message held (several in one simple Query is a signal)."""
    parameters: int = 0
    """Bound parameters (extended protocol): their values cannot change the statement."""


@dataclass(frozen=True, slots=True)
class Result:
    """What running a statement gave, counted on the wire."""

    rows_returned: int = 0
    """DataRow messages (summed over portal suspensions, cursor FETCHes) or COPY OUT rows."""
    rows_affected: int = 0
    """From CommandComplete (INSERT/UPDATE/DELETE/MERGE/COPY FROM …)."""
    command_tag: str = ""
    duration_s: float = 0.0
    ok: bool = True
    sqlstate: str = ""
    error: str = ""
    cancelled_by: tuple[Reason, ...] = field(default_factory=tuple)
    """Set when the proxy cancelled it (a blocking policy)."""
