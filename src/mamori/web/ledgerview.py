"""What the console shows of the ledger: status, search hits, one event with its proof.

Blocking functions (SQLite, the search index): the routes run them in a worker thread. Each
opens the ledger read-only (:class:`mamori.ledger.store.Reader`) for the one call.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

from mamori.home import Home
from mamori.ledger import merkle
from mamori.ledger.proofs import prove_inclusion
from mamori.ledger.search.index import MAX_LIMIT, SearchIndex
from mamori.ledger.search.query import combine, field_filter, parse, parse_time
from mamori.ledger.store import Reader

__all__ = [
    "FIELD_FILTERS",
    "MAX_INDEX",
    "PAGE_MAX",
    "EventView",
    "ProofView",
    "Row",
    "SearchPage",
    "Status",
    "event_view",
    "flatten",
    "iso_us",
    "run_search",
    "since_us",
    "status",
]

PAGE_MAX: Final = min(500, MAX_LIMIT)
"""Most hits on one page of results."""
MAX_INDEX: Final = 2**62
"""Indices at or above this are refused before they reach SQLite (whose integers stop at 2^63)."""


FIELD_FILTERS: Final[tuple[tuple[str, str], ...]] = (
    ("host", "host"),
    ("user", "user"),
    ("action", "action"),
    ("outcome", "outcome"),
    ("src", "src"),
)
"""The search page's field filters: (form parameter, field of the query language). Each is
the same as `field:value` in a query (docs/search.md), built as a node from the value itself:
the value never becomes query text, so quotes, spaces or operators in it are just characters."""


def iso_us(us: int) -> str:
    """µs since the epoch as RFC 3339 UTC."""
    return (
        dt.datetime.fromtimestamp(us / 1_000_000, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def since_us(text: str) -> int:
    """A `since` value (RFC 3339, a date, or 15m/2h/7d ago) as µs; raises QueryError."""
    return parse_time(text, time.time_ns() // 1000)


def _get(doc: Mapping[str, Any], path: str) -> Any:
    """`doc[a][b]` for ``a.b``, or the dotted key itself; None when absent."""
    if path in doc:
        return doc[path]
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def flatten(doc: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Every leaf of `doc` as (dotted path, text), sorted by path; lists stay whole (JSON)."""
    out: list[tuple[str, str]] = []
    for key, value in doc.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.extend(flatten(value, path + "."))
        else:
            out.append((path, _text(value)))
    return sorted(out)


@dataclass(frozen=True, slots=True)
class Row:
    """One search hit, as the results table shows it."""

    index: int
    received: str
    time: str
    host: str
    action: str
    outcome: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "received": self.received,
            "time": self.time,
            "host": self.host,
            "action": self.action,
            "outcome": self.outcome,
            "message": self.message,
        }


def _row(index: int, received_us: int, event: Mapping[str, Any]) -> Row:
    ts = event.get("@timestamp")
    message = _get(event, "message")
    if message is None:
        message = _get(event, "event.original")
    return Row(
        index=index,
        received=iso_us(received_us),
        time=ts if isinstance(ts, str) else iso_us(received_us),
        host=_text(_get(event, "host.name") or _get(event, "host.hostname")),
        action=_text(_get(event, "event.action")),
        outcome=_text(_get(event, "event.outcome")),
        message=_text(message)[:500],
    )


@dataclass(frozen=True, slots=True)
class SearchPage:
    """A page of results, newest first, and where the next (older) page starts."""

    rows: list[Row]
    next_before: int | None


def run_search(
    home: Home,
    query: str,
    *,
    since: int | None,
    before: int | None,
    limit: int,
    until: int | None = None,
    filters: Sequence[tuple[str, str]] = (),
) -> SearchPage:
    """Events matching `query` (docs/search.md) and every field filter (field, value), whose
    time is at or after `since` and before `until` (µs), below index `before`, newest first,
    at most `limit`. Raises QueryError for a query or filter value it cannot read."""
    node = combine([parse(query), *(field_filter(name, value) for name, value in filters)])
    with Reader(home.ledger_db) as reader, SearchIndex.open(home.index_dir) as index:
        index.catch_up(reader)
        rows: list[Row] = []
        cursor = before
        while len(rows) < limit + 1:
            want = limit + 1 - len(rows)
            ids = index.find(node, since_us=since, until_us=until, limit=want, before=cursor)
            for idx in ids:
                found = reader.entry(idx)
                if found is None or found[1] is None:
                    continue
                event = _event(found[1])
                if event is not None:
                    rows.append(_row(idx, found[0], event))
            if len(ids) < want:
                break
            cursor = ids[-1]
    more = len(rows) > limit
    rows = rows[:limit]
    return SearchPage(rows, rows[-1].index if more else None)


def _event(entry: bytes) -> dict[str, Any] | None:
    try:
        doc = orjson.loads(entry)
    except orjson.JSONDecodeError:
        return None
    event = doc.get("event") if isinstance(doc, dict) else None
    return event if isinstance(event, dict) else None


@dataclass(frozen=True, slots=True)
class ProofView:
    """An event's inclusion proof against the latest checkpoint, checked here."""

    tree_size: int
    root: str
    leaf_hash: str
    hashes: list[str]
    checkpoint_time: str
    verified: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root,
            "leaf_hash": self.leaf_hash,
            "hashes": self.hashes,
            "checkpoint_time": self.checkpoint_time,
            "verified": self.verified,
        }


@dataclass(frozen=True, slots=True)
class EventView:
    """One event: raw message, ECS fields, proof (None when it is not in a checkpoint yet)."""

    index: int
    received: str
    pruned: bool
    original: str | None
    fields: list[tuple[str, str]]
    event: dict[str, Any] | None
    proof: ProofView | None

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "received": self.received,
            "pruned": self.pruned,
            "original": self.original,
            "event": self.event,
            "proof": None if self.proof is None else self.proof.as_json(),
        }


def event_view(home: Home, index: int) -> EventView | None:
    """Event `index`, or None when the ledger has no such index."""
    if not 0 <= index < MAX_INDEX:
        return None
    with Reader(home.ledger_db) as reader:
        found = reader.entry(index)
        if found is None:
            return None
        received_us, entry = found
        proof: ProofView | None = None
        cp = reader.latest_checkpoint()
        if entry is not None and cp is not None and index < cp.tree_size:
            p = prove_inclusion(reader, index, cp.tree_size)
            # Checked here from the entry bytes themselves, not from the stored leaf.
            leaf = merkle.leaf_hash(entry)
            ok = leaf == p.leaf_hash and merkle.verify_inclusion(
                leaf, index, cp.tree_size, p.hashes, cp.root
            )
            proof = ProofView(
                tree_size=cp.tree_size,
                root=cp.root.hex(),
                leaf_hash=leaf.hex(),
                hashes=[h.hex() for h in p.hashes],
                checkpoint_time=iso_us(cp.created_us),
                verified=ok,
            )
    if entry is None:
        return EventView(index, iso_us(received_us), True, None, [], None, None)
    event = _event(entry)
    original = None if event is None else _get(event, "event.original")
    return EventView(
        index=index,
        received=iso_us(received_us),
        pruned=False,
        original=original if isinstance(original, str) else None,
        fields=[] if event is None else flatten(event),
        event=event,
        proof=proof,
    )


@dataclass(frozen=True, slots=True)
class Status:
    """The dashboard's figures."""

    tree_size: int
    checkpoint_us: int | None
    verified_at: str | None
    verified_ok: bool | None
    verified_size: int | None
    verified_problems: int | None

    def as_json(self, now_us: int) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "checkpoint_time": None if self.checkpoint_us is None else iso_us(self.checkpoint_us),
            "checkpoint_age_s": None
            if self.checkpoint_us is None
            else max(0, (now_us - self.checkpoint_us) // 1_000_000),
            "last_verification": None
            if self.verified_ok is None
            else {
                "time": self.verified_at,
                "ok": self.verified_ok,
                "tree_size": self.verified_size,
                "problems": self.verified_problems,
            },
        }


def status(home: Home) -> Status:
    """The ledger's size, latest checkpoint, and the last ``ledger.verified`` event."""
    with Reader(home.ledger_db) as reader, SearchIndex.open(home.index_dir) as index:
        cp = reader.latest_checkpoint()
        index.catch_up(reader)
        ids = index.find(parse("action:ledger.verified"), limit=1)
        verified: dict[str, Any] | None = None
        if ids:
            found = reader.entry(ids[0])
            if found is not None and found[1] is not None:
                verified = _event(found[1])
    if verified is None:
        return Status(
            0 if cp is None else cp.tree_size,
            None if cp is None else cp.created_us,
            None,
            None,
            None,
            None,
        )
    audit = _get(verified, "mamori.audit")
    audit = audit if isinstance(audit, Mapping) else {}
    size, problems = audit.get("tree_size"), audit.get("problems")
    return Status(
        tree_size=0 if cp is None else cp.tree_size,
        checkpoint_us=None if cp is None else cp.created_us,
        verified_at=_text(verified.get("@timestamp")),
        verified_ok=_get(verified, "event.outcome") == "success",
        verified_size=size if isinstance(size, int) else None,
        verified_problems=problems if isinstance(problems, int) else None,
    )
