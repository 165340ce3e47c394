"""Retention (SEC-5, CLD-6): prune event bodies past their retention date, and nothing else.

A retention run never deletes an event. It removes the BODIES of a contiguous range of the
oldest events received before the cut-off (except earlier ``ledger.pruned`` events, which stay
readable because they are the authority for what was pruned), keeps their leaf hashes in the tiles (so the tree
and every proof ever issued stay valid), and, in the same transaction, appends a signed
``ledger.pruned`` event naming the range. `mamori ledger verify` accepts a missing body only
inside a range such an event announced.

The cut-off is pure arithmetic over the configuration (:func:`cutoff`): with a contract end
date, nothing is pruned before that date plus the margin; without one, `days` after receipt;
never less than 365 days (CLD-6); never anything under legal hold.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mamori.config import MIN_RETENTION_DAYS, RetentionConfig
from mamori.home import Home
from mamori.ledger.entries import prepare_value
from mamori.ledger.search.index import SearchIndex
from mamori.ledger.store import Reader
from mamori.ledger.writer import Sequencer

PRUNED_ACTION = "ledger.pruned"
_DAY_US = 86_400 * 1_000_000


@dataclass(frozen=True, slots=True)
class Plan:
    """What a retention run would do now."""

    cutoff_us: int | None
    """Bodies received before this time may be pruned; None when nothing may be."""
    reason: str
    first: int
    """First index not yet pruned."""
    last: int | None
    """Last index to prune, or None when there is nothing to prune."""

    def as_json(self) -> dict[str, Any]:
        return {
            "cutoff": None if self.cutoff_us is None else _iso(self.cutoff_us),
            "reason": self.reason,
            "first": self.first,
            "last": self.last,
            "count": 0 if self.last is None else self.last - self.first + 1,
        }


def cutoff(cfg: RetentionConfig, now: dt.datetime) -> tuple[int | None, str]:
    """The retention cut-off for `now` (pure), and a sentence saying why."""
    if cfg.legal_hold:
        return None, "legal hold is on: nothing is pruned"
    floor = now - dt.timedelta(days=MIN_RETENTION_DAYS)
    if cfg.contract_end is not None:
        end = dt.datetime.combine(cfg.contract_end, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
            days=cfg.margin_days
        )
        if now < end:
            return None, f"kept until the contract end plus {cfg.margin_days} days ({end.date()})"
        return _us(
            floor
        ), f"contract ended; bodies older than {MIN_RETENTION_DAYS} days may be pruned"
    days = max(cfg.days, MIN_RETENTION_DAYS)
    return _us(now - dt.timedelta(days=days)), f"bodies older than {days} days may be pruned"


def plan(home: Home, reader: Reader, now: dt.datetime) -> Plan:
    """What a retention run at `now` would prune."""
    limit, reason = cutoff(home.config().retention, now)
    ranges = reader.pruned_ranges()
    first = ranges[-1][1] + 1 if ranges else 0
    if limit is None:
        return Plan(None, reason, first, None)
    end = reader.first_index_at_or_after(limit)  # received is monotonic in the index
    end = min(end, reader.tree_size())
    return Plan(limit, reason, first, end - 1 if end > first else None)


def run(home: Home, now: dt.datetime) -> Plan:
    """Prune what :func:`plan` names, with its signed ledger.pruned event, in one transaction."""
    with Reader(home.ledger_db) as reader:
        p = plan(home, reader, now)
    if p.last is None:
        return p
    last = p.last
    event = {
        "event": {"action": PRUNED_ACTION, "kind": "event", "dataset": "mamori.ledger"},
        "message": f"retention pruned the bodies of events {p.first}–{last} ({p.reason})",
        "mamori": {
            "retention": {
                "first": p.first,
                "last": last,
                "cutoff": _iso(p.cutoff_us) if p.cutoff_us is not None else None,
            }
        },
    }
    with Sequencer(home) as seq:

        def prune(conn: Any, at: int) -> None:
            conn.execute(
                "INSERT INTO pruned(first, last, event_idx) VALUES (?, ?, ?)", (p.first, last, at)
            )
            # The one UPDATE in mamori, and the schema's trigger allows nothing else: a body to NULL.
            # Earlier ledger.pruned events are never pruned: verify reads them to accept the
            # ranges they announced.
            conn.execute(
                "UPDATE events SET body = NULL WHERE idx BETWEEN ? AND ? "
                "AND idx NOT IN (SELECT event_idx FROM pruned)",
                (p.first, last),
            )

        seq.commit([prepare_value(event)], also=prune)
    # The search index must not find what was pruned (it is derived data, so this can run after).
    with SearchIndex.open(home.index_dir) as index, Reader(home.ledger_db) as reader:
        index.forget(reader, p.first, last)
    return p


def _us(t: dt.datetime) -> int:
    return int(t.timestamp()) * 1_000_000 + t.microsecond


def _iso(us: int) -> str:
    return dt.datetime.fromtimestamp(us // 1_000_000, tz=dt.UTC).isoformat().replace("+00:00", "Z")
