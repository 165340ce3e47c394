"""The Japanese business calendar (DB-3): holidays, year-end closure, weekends and hours."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from mamori.detect.calendar import BusinessCalendar, Classification, Reason

JST = ZoneInfo("Asia/Tokyo")
CAL = BusinessCalendar()


def at(day: str, hm: str = "10:00") -> dt.datetime:
    return dt.datetime.fromisoformat(f"{day}T{hm}").replace(tzinfo=JST)


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (at("2026-01-01"), "holiday: 元日"),
        (at("2026-01-02"), "year-end closure"),
        (at("2026-01-05"), "business hours"),
        (at("2026-05-01"), "business hours"),
        (at("2026-05-02"), "weekend"),
        (at("2026-05-03"), "holiday: 憲法記念日"),
        (at("2026-05-04"), "holiday: みどりの日"),
        (at("2026-05-05"), "holiday: こどもの日"),
        # 3 May 2026 is a Sunday, so the substitute holiday falls on the next non-holiday: 6 May.
        (at("2026-05-06"), "holiday: 振替休日"),
        (at("2026-05-07"), "business hours"),
        (at("2026-09-21"), "holiday: 敬老の日"),
        # A weekday between two holidays becomes a citizens' holiday (国民の休日).
        (at("2026-09-22"), "holiday: 国民の休日"),
        (at("2026-09-23"), "holiday: 秋分の日"),
        (at("2026-09-24"), "business hours"),
        (at("2026-12-28"), "business hours"),
        (at("2026-12-29"), "year-end closure"),
        (at("2026-12-30"), "year-end closure"),
        (at("2026-12-31"), "year-end closure"),
        (at("2027-01-01"), "holiday: 元日"),
        (at("2027-01-02"), "year-end closure"),
        (at("2027-01-03"), "year-end closure"),
        (at("2027-01-04"), "business hours"),
        (at("2026-06-14"), "weekend"),  # a Sunday
        (at("2026-06-10", "19:01"), "outside business hours"),
        (at("2026-06-10", "08:59"), "outside business hours"),
        (at("2026-06-10", "09:00"), "business hours"),
        (at("2026-06-10", "17:59"), "business hours"),
        (at("2026-06-10", "18:00"), "outside business hours"),
    ],
)
def test_classify(moment: dt.datetime, text: str) -> None:
    verdict = CAL.classify(moment)
    assert verdict.text == text
    assert str(verdict) == text
    assert CAL.is_business_time(moment) is (text == "business hours")


def test_utc_input_is_judged_in_tokyo() -> None:
    # 2026-09-21 23:30 UTC is still 敬老の日 in UTC, but 22 Sep 08:30 in Tokyo: the citizens'
    # holiday, before business hours.
    moment = dt.datetime(2026, 9, 21, 23, 30, tzinfo=dt.UTC)  # 22 Sep 08:30 JST
    verdict = CAL.classify(moment)
    assert verdict.reason is Reason.HOLIDAY
    assert verdict.holiday == "国民の休日"
    assert verdict.local == dt.datetime(2026, 9, 22, 8, 30, tzinfo=JST)
    # 2026-09-24 00:30 UTC is 09:30 on an ordinary Thursday in Tokyo.
    assert CAL.is_business_time(dt.datetime(2026, 9, 24, 0, 30, tzinfo=dt.UTC))
    # 2026-09-20 15:30 UTC: Sunday in UTC, but 21 Sep 00:30 JST: 敬老の日.
    assert CAL.classify(dt.datetime(2026, 9, 20, 15, 30, tzinfo=dt.UTC)).text == "holiday: 敬老の日"


def test_utc_weekday_that_is_a_tokyo_holiday() -> None:
    # 2026-11-02 (Monday) 16:00 UTC is an ordinary working Monday in UTC, but it is
    # 2026-11-03 01:00 in Tokyo: 文化の日.
    moment = dt.datetime(2026, 11, 2, 16, 0, tzinfo=dt.UTC)
    assert moment.weekday() == 0
    assert CAL.holiday_name(moment.date()) is None
    assert CAL.classify(moment).text == "holiday: 文化の日"


def test_naive_datetime_refused() -> None:
    with pytest.raises(ValueError, match=r"naive datetime .* no time zone"):
        CAL.classify(dt.datetime(2026, 1, 5, 10, 0))


def test_holiday_name() -> None:
    assert CAL.holiday_name(dt.date(2026, 9, 22)) == "国民の休日"
    assert CAL.holiday_name(dt.date(2026, 9, 24)) is None
    english = BusinessCalendar(language="en_US")
    assert english.holiday_name(dt.date(2026, 1, 1)) == "New Year's Day"


def test_extra_holidays_and_workdays() -> None:
    cal = BusinessCalendar(
        extra_holidays=[dt.date(2026, 8, 14), (dt.date(2026, 8, 13), "夏季休業")],
        extra_workdays=[dt.date(2026, 5, 4), dt.date(2026, 12, 29), dt.date(2026, 6, 13)],
    )
    assert cal.classify(at("2026-08-13")).text == "holiday: 夏季休業"
    assert cal.classify(at("2026-08-14")).text == "holiday: 臨時休業日"
    assert cal.classify(at("2026-05-04")).text == "business hours"
    assert cal.classify(at("2026-12-29")).text == "business hours"
    assert cal.classify(at("2026-06-13")).text == "weekend"  # a Saturday without hours
    assert cal.holiday_name(dt.date(2026, 5, 4)) is None


def test_per_weekday_hours() -> None:
    cal = BusinessCalendar(
        hours={0: (dt.time(8, 30), dt.time(17, 15)), 5: (dt.time(10, 0), dt.time(12, 0))}
    )
    assert cal.classify(at("2026-06-08", "08:30")).text == "business hours"  # Monday
    assert cal.classify(at("2026-06-08", "17:15")).text == "outside business hours"
    assert cal.classify(at("2026-06-09", "10:00")).text == "weekend"  # Tuesday: closed
    assert cal.classify(at("2026-06-13", "11:00")).text == "business hours"  # Saturday


def test_year_end_configurable_and_disabled() -> None:
    assert BusinessCalendar(year_end=None).classify(at("2026-12-29")).text == "business hours"
    cal = BusinessCalendar(year_end=((12, 28), (12, 31)))
    assert cal.classify(at("2026-12-28")).text == "year-end closure"
    assert cal.classify(at("2027-01-04")).text == "business hours"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"hours": (dt.time(18), dt.time(9))}, "cross midnight"),
        ({"hours": {7: (dt.time(9), dt.time(18))}}, "weekday 7"),
        ({"year_end": ((2, 30), (1, 3))}, "does not exist"),
        ({"language": "xx"}, "not available"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_has_a_verdict(reason: Reason) -> None:
    verdict = Classification(at("2026-06-10"), reason, "x" if reason is Reason.HOLIDAY else None)
    assert verdict.business is (reason is Reason.BUSINESS_HOURS)
    assert verdict.text


def test_the_calendar_is_built_from_mamori_toml() -> None:
    """[calendar] of the config: an extra holiday (Obon closure) and shorter hours apply."""
    import tomllib

    from mamori import config as config_mod
    from mamori.detect.calendar import from_config

    text = (
        config_mod.render("t.example/m")
        .replace('business_hours = ["09:00", "18:00"]', 'business_hours = ["08:30", "17:15"]')
        .replace("extra_holidays = []", 'extra_holidays = ["2026-08-14"]')
    )
    cal = from_config(config_mod.parse(tomllib.loads(text)).calendar)
    tokyo = ZoneInfo("Asia/Tokyo")
    assert cal.is_business_time(dt.datetime(2026, 8, 13, 8, 30, tzinfo=tokyo))
    assert not cal.is_business_time(dt.datetime(2026, 8, 13, 17, 15, tzinfo=tokyo))
    assert not cal.is_business_time(dt.datetime(2026, 8, 14, 10, 0, tzinfo=tokyo))
    assert not cal.is_business_time(dt.datetime(2026, 12, 30, 10, 0, tzinfo=tokyo))


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('business_hours = ["18:00", "09:00"]', "business_hours"),
        ('business_hours = ["9am"]', "business_hours"),
        ('year_end_closure = ["12-32", "01-03"]', "year_end_closure"),
        ('extra_holidays = ["someday"]', "extra_holidays"),
        ('timezone = "Mars/Olympus"', "timezone"),
    ],
)
def test_a_wrong_calendar_setting_is_named(line: str, key: str) -> None:
    import tomllib

    from mamori import config as config_mod

    text = config_mod.render("t.example/m")
    name = line.split(" = ")[0]
    head, calendar = text.split("\n[calendar]\n", 1)
    body, rest = calendar.split("\n\n", 1)
    body = "\n".join(line if ln.startswith(name + " = ") else ln for ln in body.splitlines())
    bad = f"{head}\n[calendar]\n{body}\n\n{rest}"
    with pytest.raises(config_mod.ConfigError, match=rf"\[calendar\] {key}"):
        config_mod.parse(tomllib.loads(bad))
