"""Reply deadlines in business hours: calendars.add_working_minutes, pure code."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from postroom.routing.calendars import CalendarError, add_working_minutes, parse_week

NINE_TO_SIX = parse_week("mon-fri 09:00-18:00")
BERLIN = ZoneInfo("Europe/Berlin")


def local(*parts) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def test_a_request_at_1730_on_friday_with_two_hours_is_due_monday_1030():
    friday = local(2026, 12, 4, 17, 30)
    due = add_working_minutes(NINE_TO_SIX, [], "Europe/Berlin", friday, 120)
    assert due == local(2026, 12, 7, 10, 30)
    assert due.tzinfo == UTC


def test_within_the_day_it_is_plain_addition():
    assert add_working_minutes(
        NINE_TO_SIX, [], "Europe/Berlin", local(2026, 12, 7, 10, 0), 90
    ) == local(2026, 12, 7, 11, 30)


def test_a_request_at_night_starts_counting_at_the_next_opening():
    assert add_working_minutes(
        NINE_TO_SIX, [], "Europe/Berlin", local(2026, 12, 8, 2, 15), 30
    ) == local(2026, 12, 8, 9, 30)


def test_a_lunch_break_is_not_counted():
    office = parse_week("mon-fri 09:00-12:30, 13:30-17:00")
    assert add_working_minutes(office, [], "Europe/Berlin", local(2026, 12, 7, 12, 0), 60) == local(
        2026, 12, 7, 14, 0
    )


def test_holidays_are_skipped():
    # Thursday 24 December 17:00 + 2 h: the 25th (Friday) is a holiday, then a weekend.
    due = add_working_minutes(
        NINE_TO_SIX, ["2026-12-25"], "Europe/Berlin", local(2026, 12, 24, 17, 0), 120
    )
    assert due == local(2026, 12, 28, 10, 0)


def test_the_deadline_follows_the_wall_clock_across_the_spring_switch():
    # Berlin moves from CET to CEST on Sunday 29 March 2026: Monday's 10:00 is 08:00 UTC.
    due = add_working_minutes(NINE_TO_SIX, [], "Europe/Berlin", local(2026, 3, 27, 17, 0), 120)
    assert due == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def test_around_the_clock_a_working_minute_is_a_real_minute_on_the_switch_night():
    always = parse_week("mon-sun 00:00-24:00")
    # 23:00 CET on Saturday (22:00 UTC) + 3 hours: 01:00 UTC, which is 03:00 CEST.
    due = add_working_minutes(always, [], "Europe/Berlin", local(2026, 3, 28, 23, 0), 180)
    assert due == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert due.astimezone(BERLIN).hour == 3


def test_the_calendars_zone_decides_not_the_start_instants():
    # 16:00 UTC on Monday is 11:00 in New York: two working hours end at 13:00 there.
    start = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)
    due = add_working_minutes(NINE_TO_SIX, [], "America/New_York", start, 120)
    assert due == datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def test_a_calendar_without_working_hours_is_refused_with_the_reason():
    with pytest.raises(CalendarError, match="no working hours"):
        add_working_minutes([], [], "UTC", local(2026, 12, 7, 9, 0), 60)


def test_a_calendar_that_is_one_long_holiday_is_refused():
    first = date(2026, 12, 1)
    days = [first + timedelta(days=n) for n in range(4 * 366)]
    with pytest.raises(CalendarError, match="no working time"):
        add_working_minutes(NINE_TO_SIX, days, "UTC", datetime(2026, 12, 1, tzinfo=UTC), 60)
