"""Business hours as pure code: parsing the week's text, holidays, time zones."""

from datetime import UTC, date, datetime

import pytest

from postroom.routing.calendars import (
    CalendarError,
    Interval,
    check_time_zone,
    format_week,
    is_open,
    parse_holidays,
    parse_week,
)

OFFICE = parse_week("mon-fri 09:00-12:30, 13:30-17:00\nsat 10:00-14:00")


def test_it_reads_day_ranges_and_several_spans_a_day():
    assert Interval(0, 9 * 60, 12 * 60 + 30) in OFFICE
    assert Interval(4, 13 * 60 + 30, 17 * 60) in OFFICE
    assert Interval(5, 600, 840) in OFFICE
    assert len(OFFICE) == 11


def test_format_week_gives_back_text_it_reads():
    assert parse_week(format_week(OFFICE)) == OFFICE


def test_monday_morning_in_berlin_is_open_and_lunch_is_not():
    # 08:30 UTC in winter is 09:30 in Berlin (a Monday).
    assert is_open(OFFICE, [], "Europe/Berlin", datetime(2026, 12, 7, 8, 30, tzinfo=UTC))
    assert not is_open(OFFICE, [], "Europe/Berlin", datetime(2026, 12, 7, 12, 0, tzinfo=UTC))


def test_the_same_instant_is_closed_in_another_zone():
    at = datetime(2026, 12, 7, 8, 30, tzinfo=UTC)  # 03:30 in New York
    assert not is_open(OFFICE, [], "America/New_York", at)


def test_the_end_of_a_span_is_outside_it():
    assert not is_open(OFFICE, [], "UTC", datetime(2026, 12, 7, 17, 0, tzinfo=UTC))
    assert is_open(OFFICE, [], "UTC", datetime(2026, 12, 7, 16, 59, tzinfo=UTC))


def test_sunday_is_closed():
    assert not is_open(OFFICE, [], "UTC", datetime(2026, 12, 6, 11, 0, tzinfo=UTC))


def test_a_holiday_is_closed_all_day_in_the_calendars_zone():
    holidays = parse_holidays("2026-12-25")
    # 23:30 UTC on the 24th is already the 25th in Berlin, but not a working hour anyway;
    # 10:00 UTC on the 25th (a Friday) would be open without the holiday.
    friday = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)
    assert is_open(OFFICE, [], "Europe/Berlin", friday)
    assert not is_open(OFFICE, holidays, "Europe/Berlin", friday)
    assert not is_open(OFFICE, ["2026-12-25"], "Europe/Berlin", friday)


def test_until_midnight_is_written_24_00():
    week = parse_week("sun 20:00-24:00")
    assert is_open(week, [], "UTC", datetime(2026, 12, 6, 23, 59, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "no working hours"),
        ("# nothing\n", "no working hours"),
        ("mon-fri 17:00-09:00", "ends before it starts"),
        ("mon 10:00-10:00", "ends before it starts"),
        ("fri-mon 09:00-17:00", "ends before it starts"),
        ("mon-fri", "give days and times"),
        ("someday 09:00-17:00", "is not a day"),
        ("mon 9-17", "is not a time"),
        ("mon 25:00-26:00", "is not a time of day"),
        ("mon 09:00-12:00, 11:00-13:00", "overlaps"),
    ],
)
def test_a_calendar_that_cannot_work_is_refused_with_the_reason(text, reason):
    with pytest.raises(CalendarError, match=reason):
        parse_week(text)


def test_a_bad_holiday_or_time_zone_is_refused():
    with pytest.raises(CalendarError, match="not a date"):
        parse_holidays("christmas")
    with pytest.raises(CalendarError, match="unknown time zone"):
        check_time_zone("Mars/Olympus")
    assert parse_holidays("2026-01-01, 2026-12-25") == [date(2026, 1, 1), date(2026, 12, 25)]
