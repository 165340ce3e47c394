"""What the tracker keeps about the statements of one session (pure data, and the text
helpers it shares with them): the expectations queue's entries (:class:`Exp`, :class:`Pending`),
a statement while it runs (:class:`Running`), prepared statements, portals and SQL cursors, and
what a finished statement or a noteworthy moment leaves for the events (:class:`Finished`,
:class:`Note`). The logic is in :mod:`mamori.dbguard.tracker`."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from pglast import parser as pg

from mamori.dbguard.enduser import Change, Claim
from mamori.dbguard.facts import Decision, Reason, Result, Session, Statement
from mamori.dbguard.guard import Analysis

_SURROGATES: Final = {c: 0xFFFD for c in range(0xDC80, 0xDD00)}


def sanitize(text: str) -> str:
    """Undecodable bytes (surrogates) as U+FFFD, same length: offsets stay valid."""
    return text if text.isascii() else text.translate(_SURROGATES)


def split_statements(text: str) -> list[tuple[int, int]]:
    """The [start, end) character spans of the statements of a simple Query (pglast's parser,
    else its scanner, else the whole text)."""
    clean = sanitize(text)
    for with_parser in (True, False):
        try:
            spans = pg.split(clean, with_parser=with_parser, only_slices=True)
        except pg.ParseError:
            continue
        return [(s.start, s.stop) for s in spans]
    return [(0, len(text))] if text.strip() else []


def cursor_name(text: str) -> str:
    """The cursor a DECLARE, FETCH, MOVE or CLOSE names ("" for CLOSE ALL or anything else)."""
    try:
        tree = orjson.loads(pg.parse_sql_json(text))
    except (pg.ParseError, orjson.JSONDecodeError):
        return ""
    stmts = tree.get("stmts") or []
    if len(stmts) != 1:
        return ""
    node = stmts[0].get("stmt") or {}
    for body in node.values():
        if isinstance(body, dict):
            return str(body.get("portalname") or "")
    return ""


class Exp(enum.Enum):
    """What the server owes the client, per frontend message."""

    PARSE = "1"
    BIND = "2"
    CLOSE = "3"
    DESCRIBE = "D"
    EXECUTE = "E"
    QUERY = "Q"
    FUNCTION = "F"
    SYNC = "S"
    SYNTHETIC = "*"
    """Bytes of the proxy's own (a refusal), released to the client in their turn."""


ANSWERS: Final = {0x31: Exp.PARSE, 0x32: Exp.BIND, 0x33: Exp.CLOSE, 0x6E: Exp.DESCRIBE}
"""ParseComplete, BindComplete, CloseComplete and NoData: the frontend message each answers."""


@dataclass(slots=True, eq=False)
class Running:
    """One statement while it runs."""

    stmt: Statement
    analysis: Analysis
    decision: Decision
    operation: str
    started: float
    next_check: int
    change: Change | None = None
    claim: Claim | None = None
    rows: int = 0
    rows_call: int = 0
    dropped: int = 0
    affected: int = 0
    tag: str = ""
    copy: str = ""
    copy_format: int = 0
    cut: tuple[Reason, ...] = ()
    cursor: str = ""
    cursor_base: int = 0
    inflight: int = 0
    """Executes of it the server has not answered yet."""
    orphan: bool = False
    """Its portal was replaced or closed while an Execute was in flight: done when answered."""
    bounded: bool = False
    """The Execute in flight asks for at most some rows (``max_rows``): it ends by itself."""
    finished: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True, eq=False)
class Pending:
    kind: Exp
    runs: list[Running] = field(default_factory=list)
    index: int = 0
    data: bytes = b""

    def current(self) -> Running | None:
        return self.runs[self.index] if self.index < len(self.runs) else None


@dataclass(slots=True)
class Prepared:
    text: str
    change: Change | None
    claim: Claim | None


@dataclass(slots=True)
class Portal:
    text: str
    params: int
    change: Change | None
    claim: Claim | None
    epoch: int
    running: Running | None = None


@dataclass(slots=True)
class Cursor:
    fingerprint: str
    rows: int = 0


@dataclass(frozen=True, slots=True)
class Finished:
    """A statement done: what the event is built from."""

    stmt: Statement
    result: Result
    analysis: Analysis
    decision: Decision
    operation: str
    extra: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Note:
    """Something else worth an event: ``anomaly`` or ``end_user_unverified``."""

    kind: str
    session: Session
    at: float
    detail: str
    claim: Claim | None = None
