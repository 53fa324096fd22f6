"""Business hours: a week of working intervals in a time zone, with holidays.

Pure code (no ORM): a calendar is written as text, one line per set of days,

    mon-fri 09:00-12:30, 13:30-17:00
    sat 10:00-14:00

and holidays as ISO dates, one a line. `parse_week` turns the text into intervals
(weekday 0 = Monday, minutes from midnight) or raises CalendarError with the reason;
`is_open` says whether an instant falls in them, in the calendar's own time zone;
`add_working_minutes` finds the instant a number of working minutes after another (a
reply deadline).
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")


class CalendarError(ValueError):
    """A calendar that cannot be used, with the reason in words."""


@dataclass(frozen=True, order=True)
class Interval:
    day: int  # 0 = Monday
    start: int  # minutes from midnight
    end: int  # minutes from midnight, after start; 24:00 is 1440

    def as_list(self) -> list[int]:
        return [self.day, self.start, self.end]


def parse_week(text: str) -> list[Interval]:
    """Working intervals from lines such as "mon-fri 09:00-17:00" (see the module)."""
    found: list[Interval] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip().lower()
        if not line:
            continue
        days_text, _, times_text = line.partition(" ")
        if not times_text.strip():
            raise CalendarError(f"line {number}: give days and times, e.g. mon-fri 09:00-17:00")
        days = _days(days_text, number)
        for part in times_text.split(","):
            start, end = _span(part.strip(), number)
            found.extend(Interval(day, start, end) for day in days)
    if not found:
        raise CalendarError("no working hours: give at least one line such as mon-fri 09:00-17:00")
    found.sort()
    for before, after in zip(found, found[1:], strict=False):
        if before.day == after.day and after.start < before.end:
            raise CalendarError(
                f"{DAYS[before.day]}: {_hhmm(before.start)}-{_hhmm(before.end)} overlaps "
                f"{_hhmm(after.start)}-{_hhmm(after.end)}"
            )
    return found


def format_week(intervals: Iterable[Interval | list[int]]) -> str:
    """The text parse_week reads, one line per day (Monday first)."""
    by_day: dict[int, list[str]] = {}
    for item in sorted(_interval(i) for i in intervals):
        by_day.setdefault(item.day, []).append(f"{_hhmm(item.start)}-{_hhmm(item.end)}")
    return "\n".join(f"{DAYS[day]} {', '.join(spans)}" for day, spans in sorted(by_day.items()))


def parse_holidays(text: str) -> list[date]:
    found = set()
    for number, line in enumerate(text.replace(",", "\n").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            found.add(date.fromisoformat(line))
        except ValueError:
            raise CalendarError(
                f"holiday {line!r} (line {number}) is not a date like 2026-12-25"
            ) from None
    return sorted(found)


def check_time_zone(name: str) -> ZoneInfo:
    name = name.strip()
    if name not in _zones():
        raise CalendarError(f"unknown time zone {name!r}: use a name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise CalendarError(f"unknown time zone {name!r}") from None


def is_open(
    intervals: Iterable[Interval | list[int]],
    holidays: Iterable[date | str],
    time_zone: str,
    at: datetime,
) -> bool:
    """True when `at` (an aware datetime) is in working hours, in the calendar's zone;
    never on a holiday (a date in that zone)."""
    local = at.astimezone(ZoneInfo(time_zone))
    day = local.date()
    if any(_date(h) == day for h in holidays):
        return False
    minute = local.hour * 60 + local.minute
    weekday = local.weekday()
    return any(
        i.day == weekday and i.start <= minute < i.end for i in (_interval(x) for x in intervals)
    )


# How far ahead add_working_minutes looks for working time before it gives up: a
# calendar whose every day for years is a holiday is as good as none.
SEARCH_DAYS = 3 * 366


def add_working_minutes(
    intervals: Iterable[Interval | list[int]],
    holidays: Iterable[date | str],
    time_zone: str,
    start: datetime,
    minutes: int,
) -> datetime:
    """The instant (aware, UTC) when `minutes` of working time have passed since `start`
    (an aware datetime), counting only the calendar's working intervals in its own zone
    and skipping holidays: a request at 17:30 on Friday with 9-18 hours and 2 hours to
    answer is due at 10:30 on Monday. Working minutes are real minutes: an interval
    across a daylight-saving switch is an hour shorter or longer, as the clock on the
    wall says. CalendarError when the calendar has no working time at all."""
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    week = sorted(_interval(i) for i in intervals)
    if not week:
        raise CalendarError("the calendar has no working hours: a deadline can never come")
    zone = ZoneInfo(time_zone)
    closed = {_date(h) for h in holidays}
    by_day: dict[int, list[Interval]] = {}
    for item in week:
        by_day.setdefault(item.day, []).append(item)
    at = start.astimezone(UTC)
    left = timedelta(minutes=minutes)
    day = start.astimezone(zone).date()
    for _ in range(SEARCH_DAYS):
        if day not in closed:
            for item in by_day.get(day.weekday(), ()):
                begin = max(_instant(day, item.start, zone), at)
                end = _instant(day, item.end, zone)
                if begin >= end:
                    continue
                if end - begin >= left:
                    return begin + left
                left -= end - begin
        day += timedelta(days=1)
    raise CalendarError(f"no working time in the {SEARCH_DAYS} days after {start:%Y-%m-%d}")


def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock minute of a day in a zone (24:00: next midnight)."""
    if minute >= 24 * 60:
        day, minute = day + timedelta(days=1), 0
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone).astimezone(UTC)


def _days(text: str, number: int) -> list[int]:
    result: list[int] = []
    for part in text.split("+"):
        first, _, last = part.partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CalendarError(f"line {number}: {part!r} is not a day or range like mon-fri")
        start, end = DAYS.index(first), DAYS.index(last or first)
        if end < start:
            raise CalendarError(f"line {number}: {part!r} ends before it starts")
        result.extend(range(start, end + 1))
    return result


def _span(text: str, number: int) -> tuple[int, int]:
    start_text, _, end_text = text.partition("-")
    start, end = _minutes(start_text.strip(), number), _minutes(end_text.strip(), number)
    if end <= start:
        raise CalendarError(f"line {number}: {text!r} ends before it starts")
    return start, end


def _minutes(text: str, number: int) -> int:
    match = _TIME.match(text)
    if not match:
        raise CalendarError(f"line {number}: {text!r} is not a time like 09:00")
    hours, minutes = int(match[1]), int(match[2])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise CalendarError(f"line {number}: {text!r} is not a time of day")
    return hours * 60 + minutes


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _interval(item: Interval | list[int]) -> Interval:
    return item if isinstance(item, Interval) else Interval(*item)


def _date(item: date | str) -> date:
    return item if isinstance(item, date) else date.fromisoformat(item)


_ZONES: set[str] = set()


def _zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES
