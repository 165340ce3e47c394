"""The Japanese business calendar: is a moment inside business hours, and if not, why not (DB-3).

Pure values, no I/O: the national holidays come from the `holidays` package's Japan calendar
(国民の祝日, substitute holidays 振替休日 and citizens' holidays 国民の休日 included), the rest —
time zone, business hours, the year-end closure, company holidays and make-up workdays — from
the arguments, which the configuration's `[calendar]` section will supply.

A moment is classified in this order, the first rule that applies giving the reason:

1. an extra workday (`extra_workdays`) is a working day, whatever else is true of it;
2. an extra holiday (`extra_holidays`) → ``holiday: <name>``;
3. a national holiday → ``holiday: <name>`` (元日 on 1 January wins over the year-end closure,
   because the holiday's name says more);
4. the year-end closure → ``year-end closure``;
5. a weekday without business hours (Saturday and Sunday by default) → ``weekend``;
6. outside that weekday's hours → ``outside business hours``; otherwise ``business hours``.

Business hours are half-open: with 09:00–18:00, 09:00:00 is inside and 18:00:00 is outside.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import assert_never
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from holidays.countries.japan import Japan

from mamori.config import CalendarConfig

Hours = tuple[dt.time, dt.time]
"""Opening time (inclusive) and closing time (exclusive) of one day."""

MonthDay = tuple[int, int]

DEFAULT_HOURS: Hours = (dt.time(9, 0), dt.time(18, 0))
DEFAULT_YEAR_END: tuple[MonthDay, MonthDay] = ((12, 29), (1, 3))
EXTRA_HOLIDAY_NAME = "臨時休業日"
"""The name given to an extra holiday configured without one."""


class Reason(enum.Enum):
    """Why a moment is, or is not, business time."""

    BUSINESS_HOURS = "business hours"
    OUTSIDE_HOURS = "outside business hours"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"
    YEAR_END = "year-end closure"


@dataclass(frozen=True, slots=True)
class Classification:
    """The verdict on one moment."""

    local: dt.datetime
    """The moment in the calendar's time zone."""
    reason: Reason
    holiday: str | None = None
    """The holiday's name when :attr:`reason` is :attr:`Reason.HOLIDAY`."""

    @property
    def business(self) -> bool:
        """True when the moment is inside business hours on a working day."""
        match self.reason:
            case Reason.BUSINESS_HOURS:
                return True
            case Reason.OUTSIDE_HOURS | Reason.WEEKEND | Reason.HOLIDAY | Reason.YEAR_END:
                return False
            case _:
                assert_never(self.reason)

    @property
    def text(self) -> str:
        """The reason for a person: ``holiday: 元日``, ``weekend``, ``business hours`` …"""
        if self.reason is Reason.HOLIDAY:
            return f"holiday: {self.holiday}"
        text: str = self.reason.value
        return text

    def __str__(self) -> str:
        return self.text


class BusinessCalendar:
    """Business days and hours in one time zone, Japanese public holidays included.

    Raises :class:`ValueError` with a message naming the bad argument when the time zone is
    unknown, an hours pair is empty or inverted, or a year-end day does not exist; the
    configuration loader turns that into an error naming the config key.
    """

    def __init__(
        self,
        timezone: str = "Asia/Tokyo",
        hours: Hours | Mapping[int, Hours | None] = DEFAULT_HOURS,
        year_end: tuple[MonthDay, MonthDay] | None = DEFAULT_YEAR_END,
        extra_holidays: Iterable[dt.date | tuple[dt.date, str]] = (),
        extra_workdays: Iterable[dt.date] = (),
        *,
        language: str = "ja",
    ) -> None:
        """Build a calendar.

        `hours` is either one pair for Monday to Friday (Saturday and Sunday closed) or a
        mapping from weekday (0 = Monday … 6 = Sunday) to a pair, a missing weekday or
        ``None`` meaning closed. `year_end` is the first and last (month, day) of the closure,
        inclusive, wrapping over New Year; ``None`` disables it. `language` picks the holiday
        names ("ja" or "en_US").
        """
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as e:
            raise ValueError(
                f"unknown time zone {timezone!r}: use a name such as 'Asia/Tokyo'"
            ) from e
        self.timezone = timezone
        self._hours = _weekly_hours(hours)
        self.year_end = year_end
        if year_end is not None:
            for month, day in year_end:
                _check_month_day(month, day)
        self._extra_holidays: dict[dt.date, str] = {}
        for item in extra_holidays:
            if isinstance(item, tuple):
                self._extra_holidays[item[0]] = item[1]
            else:
                self._extra_holidays[item] = EXTRA_HOLIDAY_NAME
        self._extra_workdays = frozenset(extra_workdays)
        if language not in Japan.supported_languages:
            raise ValueError(
                f"holiday names in {language!r} are not available: use one of "
                f"{', '.join(sorted(Japan.supported_languages))}"
            )
        self._national = Japan(language=language)

    def localize(self, moment: dt.datetime) -> dt.datetime:
        """`moment` in the calendar's time zone; naive datetimes are refused."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError(
                f"naive datetime {moment.isoformat()} has no time zone: pass an aware datetime "
                "(e.g. datetime.now(timezone.utc)) so it can be converted to "
                f"{self.timezone}"
            )
        return moment.astimezone(self.tz)

    def holiday_name(self, day: dt.date) -> str | None:
        """The name of the national or extra holiday on `day` (a local date), else ``None``.

        Extra workdays are not holidays, even on a national holiday.
        """
        if day in self._extra_workdays:
            return None
        name = self._extra_holidays.get(day)
        if name is not None:
            return name
        national: str | None = self._national.get(day)
        return national

    def in_year_end(self, day: dt.date) -> bool:
        """True when `day` (a local date) falls in the year-end closure."""
        if self.year_end is None:
            return False
        start, end = self.year_end
        md = (day.month, day.day)
        if start <= end:
            return start <= md <= end
        return md >= start or md <= end

    def classify(self, moment: dt.datetime) -> Classification:
        """Whether `moment` is business time, and why (see the module's order of rules)."""
        local = self.localize(moment)
        day = local.date()
        if day not in self._extra_workdays:
            name = self.holiday_name(day)
            if name is not None:
                return Classification(local, Reason.HOLIDAY, name)
            if self.in_year_end(day):
                return Classification(local, Reason.YEAR_END)
        hours = self._hours[day.weekday()]
        if hours is None:
            return Classification(local, Reason.WEEKEND)
        opens, closes = hours
        if opens <= local.time() < closes:
            return Classification(local, Reason.BUSINESS_HOURS)
        return Classification(local, Reason.OUTSIDE_HOURS)

    def is_business_time(self, moment: dt.datetime) -> bool:
        """True when `moment` is inside business hours on a working day."""
        return self.classify(moment).business


def _weekly_hours(hours: Hours | Mapping[int, Hours | None]) -> tuple[Hours | None, ...]:
    if isinstance(hours, tuple):
        _check_hours(hours, "business hours")
        return (hours,) * 5 + (None, None)
    week: list[Hours | None] = [None] * 7
    for weekday, pair in hours.items():
        if weekday not in range(7):
            raise ValueError(f"weekday {weekday!r} is not 0 (Monday) … 6 (Sunday)")
        if pair is not None:
            _check_hours(pair, f"business hours of weekday {weekday}")
        week[weekday] = pair
    return tuple(week)


def _check_hours(pair: Hours, what: str) -> None:
    opens, closes = pair
    if not opens < closes:
        raise ValueError(
            f"{what} {opens:%H:%M}–{closes:%H:%M} are empty or cross midnight: "
            "give an opening time before the closing time on the same day"
        )


def _check_month_day(month: int, day: int) -> None:
    try:
        dt.date(2000, month, day)  # a leap year, so 29 February is allowed
    except (TypeError, ValueError) as e:
        raise ValueError(f"year-end closure day {month}-{day} does not exist") from e


def from_config(cfg: CalendarConfig) -> BusinessCalendar:
    """The calendar `[calendar]` of mamori.toml describes (already checked by the config)."""
    return BusinessCalendar(
        timezone=cfg.timezone,
        hours=cfg.business_hours,
        year_end=cfg.year_end_closure,
        extra_holidays=cfg.extra_holidays,
        extra_workdays=cfg.extra_workdays,
    )
