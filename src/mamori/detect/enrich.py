"""Facts added to an event before rules run, so plain Sigma rules can ask for them (pure).

- ``mamori.calendar.business`` (bool) and ``mamori.calendar.reason`` (``business_hours``,
  ``outside_hours``, ``weekend``, ``holiday``, ``year_end``) from the event's ``@timestamp`` and
  the business calendar (DB-3); ``mamori.calendar.holiday`` names the holiday when there is one.
- ``mamori.net.denied`` (true) when ``source.ip`` or ``destination.ip`` lies in one of
  ``[detect] denied_networks`` (CLD-7), and ``mamori.net.denied_side`` says which
  (``source``, ``destination`` or ``both``).

An event without a readable ``@timestamp`` gets no calendar fields; one without addresses no
network fields. The event given is not changed: a new mapping is returned.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Final

from mamori.detect.calendar import BusinessCalendar, Reason

REASON_CODES: Final = {
    Reason.BUSINESS_HOURS: "business_hours",
    Reason.OUTSIDE_HOURS: "outside_hours",
    Reason.WEEKEND: "weekend",
    Reason.HOLIDAY: "holiday",
    Reason.YEAR_END: "year_end",
}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CACHE_MINUTES: Final = 4096
"""Minutes of calendar verdicts kept (about three days of live traffic)."""


class Enricher:
    """Adds the calendar and denied-network fields; built once from the configuration."""

    def __init__(self, calendar: BusinessCalendar, denied_networks: Iterable[str] = ()) -> None:
        self.calendar = calendar
        self._by_minute: dict[int, dict[str, Any]] = {}
        self.denied: tuple[Network, ...] = tuple(
            ipaddress.ip_network(n, strict=False) for n in denied_networks
        )

    def _calendar_fields(self, when: float) -> Mapping[str, Any]:
        """The calendar's verdict on `when`, cached per minute: business hours are whole
        minutes (``HH:MM``), so every second of a minute has the same verdict."""
        minute = int(when // 60)
        hit = self._by_minute.get(minute)
        if hit is not None:
            return hit
        c = self.calendar.classify(dt.datetime.fromtimestamp(minute * 60, dt.UTC))
        cal: dict[str, Any] = {"business": c.business, "reason": REASON_CODES[c.reason]}
        if c.holiday:
            cal["holiday"] = c.holiday
        if len(self._by_minute) >= _CACHE_MINUTES:
            self._by_minute.clear()
        self._by_minute[minute] = cal
        return cal

    def _denied(self, value: Any) -> bool:
        if not self.denied or not isinstance(value, str):
            return False
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            return False
        return any(addr in n for n in self.denied)

    def enrich(self, event: Mapping[str, Any], when: float | None) -> dict[str, Any]:
        """`event` with the mamori fields added; `when` is its time (epoch seconds) or None."""
        out = dict(event)
        m = out.get("mamori")
        mamori: dict[str, Any] = dict(m) if isinstance(m, Mapping) else {}
        changed = False
        if when is not None:
            mamori["calendar"] = dict(self._calendar_fields(when))
            changed = True
        if self.denied:
            src = out.get("source")
            dst = out.get("destination")
            s = self._denied(src.get("ip")) if isinstance(src, Mapping) else False
            d = self._denied(dst.get("ip")) if isinstance(dst, Mapping) else False
            if s or d:
                side = "both" if s and d else "source" if s else "destination"
                mamori["net"] = {"denied": True, "denied_side": side}
                changed = True
        if changed:
            out["mamori"] = mamori
        return out
