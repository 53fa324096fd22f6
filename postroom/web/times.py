"""How times read on every page: relative in lists ("5 minutes ago") with the exact time,
to the second and with the zone, on hover; exact where times must be told apart.

Both use the active time zone, which the user's own (accounts.timezones middleware).
Django's naturaltime does the relative words; only the exact format is ours.
"""

import re
from datetime import date, datetime

from django.contrib.humanize.templatetags.humanize import NaturalTimeFormatter
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import get_language

# 2026-12-07 15:27:53 CET: sortable, to the second, and with the zone it is in (Django's
# date format "Y-m-d H:i:s T", written out: exact() is called for every row of a list).
EXACT_FORMAT = "Y-m-d H:i:s T"


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def exact(value: datetime | None) -> str:
    """The time to the second in the active zone, with the zone's abbreviation."""
    if value is None:
        return ""
    if not isinstance(value, datetime):  # a date: nothing finer to show
        return value.isoformat()
    local = _local(value)
    return (
        f"{local.year:04d}-{local.month:02d}-{local.day:02d} "
        f"{local.hour:02d}:{local.minute:02d}:{local.second:02d} {_zone_name(local)}"
    )


def _zone_name(local: datetime) -> str:
    """Django's "T": the zone's abbreviation, the default zone's for a naive time, and
    nothing for a time the zone's clock shows twice or never (a DST change)."""
    zone = local.tzinfo if timezone.is_aware(local) else timezone.get_default_timezone()
    if timezone._datetime_ambiguous_or_imaginary(local, zone):
        return ""
    return str(zone.tzname(local))


class _Kept:
    """A lazy translated string's "%" (and str()) kept per language and arguments:
    Django resolves the translation again on every use, and that was most of the cost
    of a list's relative times (200 on a CRM timeline)."""

    def __init__(self, lazy) -> None:
        self.lazy = lazy
        self.done: dict[tuple, str] = {}

    def __mod__(self, params: dict) -> str:
        key = (get_language(), *params.items())
        if (found := self.done.get(key)) is None:
            if len(self.done) > 10_000:  # a long-running process: stay bounded
                self.done.clear()
            found = self.done[key] = str(self.lazy % params)
        return found

    def __str__(self) -> str:
        return self % {}


def _kept(strings: dict) -> dict:
    return {name: _Kept(lazy) for name, lazy in strings.items()}


class _NaturalTime(NaturalTimeFormatter):
    """Django's naturaltime, word for word, its translations looked up once."""

    time_strings = _kept(NaturalTimeFormatter.time_strings)
    past_substrings = _kept(NaturalTimeFormatter.past_substrings)
    future_substrings = _kept(NaturalTimeFormatter.future_substrings)


def relative(value: datetime | date | None) -> str:
    """'5 minutes ago', 'in 2 hours' style words (naturaltime), '' for None."""
    if value is None:
        return ""
    return str(_NaturalTime.string_for(value))


def _as_datetime(value) -> datetime | date | None:
    """A datetime, a date, or one written in ISO (job results keep theirs as text)."""
    if isinstance(value, str):
        return parse_datetime(value)
    return value if isinstance(value, date) else None


def when(value: datetime | str | None, empty: str = "—") -> SafeString:
    """<time> reading relative, the exact time in its title (for lists)."""
    return _time(value, empty, exact_first=False)


def when_exact(value: datetime | str | None, empty: str = "—") -> SafeString:
    """<time> reading exact to the second, the relative words in its title."""
    return _time(value, empty, exact_first=True)


def _time(value: datetime | str | None, empty: str, *, exact_first: bool) -> SafeString:
    if value in (None, ""):
        return format_html("{}", empty)
    if (value := _as_datetime(value) or value) and not isinstance(value, date):
        return format_html("{}", value)
    shown, title = exact(value), relative(value)
    if not exact_first:
        shown, title = title, shown
    return format_html('<time datetime="{}" title="{}">{}</time>', value.isoformat(), title, shown)


# "; waits until 2027-01-01 00:00" or "; waits until 14:02:10", and only that: what
# follows it (a hint on raising the quota) stays.
_WAITS_UNTIL = re.compile(r"[;,]?\s*waits until [\d\-: ]*\d", re.IGNORECASE)


def without_wait(reason: str) -> str:
    """'monthly quota of 1 reached; waits until 2027-01-01 00:00 (…)' -> 'monthly quota
    of 1 reached (…)'."""
    return _WAITS_UNTIL.sub("", reason).strip()
