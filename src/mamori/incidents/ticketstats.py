"""Monthly service-desk figures (OPS-1, for the OPS-2 report): counts, times, targets met.

Pure: :func:`month_stats` takes tickets and returns a dict; :func:`ticket_stats` reads them.
A month is a calendar month in the `[calendar]` zone.

* Counts (by category, priority and status now) are of the tickets opened in the month.
* First response: of the tickets opened in the month; one not answered yet counts as missed
  once its target has passed, and is left out while it may still be met.
* Resolution: of the tickets resolved in the month (their latest resolution).
* Times are in minutes of elapsed (calendar) time; the median and the 90th percentile
  (nearest rank) of the tickets measured.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import statistics
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from mamori.incidents.errors import IncidentsError
from mamori.incidents.model import Priority
from mamori.incidents.tickets import Ticket, TicketCategory, TicketStatus, TicketStore

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")


def month_bounds(month: str, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of `YYYY-MM` in `zone`."""
    m = _MONTH.fullmatch(month.strip())
    if m is None:
        raise IncidentsError(f"{month!r} is not a month", hint="write it as YYYY-MM, e.g. 2026-11")
    year, mon = int(m.group(1)), int(m.group(2))
    start = dt.datetime(year, mon, 1, tzinfo=zone)
    end = dt.datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start, end


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank percentile (p in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def _times(values: list[float], met: int, missed: int) -> dict[str, Any]:
    decided = met + missed
    return {
        "count": len(values),
        "median_minutes": statistics.median(values) if values else None,
        "p90_minutes": percentile(values, 90),
        "within_target": met,
        "missed": missed,
        "within_target_percent": round(100 * met / decided, 1) if decided else None,
    }


def month_stats(
    tickets: Sequence[Ticket], month: str, zone: ZoneInfo, now: dt.datetime
) -> dict[str, Any]:
    """The month's figures from all tickets (pure)."""
    start, end = month_bounds(month, zone)

    def inside(t: dt.datetime | None) -> bool:
        return t is not None and start <= t < end

    opened = [t for t in tickets if inside(t.opened_at)]
    first: list[float] = []
    first_met = first_missed = first_pending = 0
    for t in opened:
        verdict = t.first_response_met(now)
        if t.first_response_minutes is not None:
            first.append(t.first_response_minutes)
        if verdict is None:
            first_pending += 1
        elif verdict:
            first_met += 1
        else:
            first_missed += 1
    resolved = [t for t in tickets if inside(t.resolved_at)]
    res = [m for t in resolved if (m := t.resolution_minutes) is not None]
    res_met = sum(1 for t in resolved if t.resolution_met(now))
    first_stats = _times(first, first_met, first_missed)
    first_stats["pending"] = first_pending
    return {
        "month": month,
        "zone": str(zone),
        "from": start.isoformat(),
        "until": end.isoformat(),
        "opened": len(opened),
        "by_category": {c.value: sum(t.category is c for t in opened) for c in TicketCategory},
        "by_priority": {p.value: sum(t.priority is p for t in opened) for p in Priority},
        "by_status": {s.value: sum(t.status is s for t in opened) for s in TicketStatus},
        "first_response": first_stats,
        "resolution": _times(res, res_met, len(resolved) - res_met),
    }


def ticket_stats(
    store: TicketStore, month: str, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The monthly figures of the service desk (see the module's docstring)."""
    return month_stats(
        store.tickets(include_closed=True), month, store.zone, now or dt.datetime.now(dt.UTC)
    )
