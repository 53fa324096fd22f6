"""times.exact and times.relative write out what Django's date format "Y-m-d H:i:s T" and
naturaltime say (they are called for every row of a list, so they skip Django's
per-call format parsing and translation look-ups), in every zone and language."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone, translation
from django.utils.dateformat import format as date_format

from postroom.web import times

ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]


@pytest.mark.parametrize("zone", ZONES)
def test_exact_says_what_djangos_date_format_says(zone):
    start = datetime(2026, 10, 24, 12, 0, tzinfo=ZoneInfo("UTC"))  # across a DST change
    with timezone.override(ZoneInfo(zone)):
        for minutes in range(0, 60 * 24 * 3, 13):
            value = start + timedelta(minutes=minutes, seconds=minutes % 60)
            expected = date_format(timezone.localtime(value), times.EXACT_FORMAT)
            assert times.exact(value) == expected


@pytest.mark.parametrize("zone", ZONES)
def test_exact_says_what_django_says_of_naive_ambiguous_and_old_times(zone):
    values = [
        datetime(2026, 11, 1, 1, 30),  # twice on New York's clock
        datetime(2026, 11, 1, 1, 30, fold=1),
        datetime(2026, 3, 8, 2, 30),  # never on it
        datetime(999, 1, 2, 3, 4, 5),
    ]
    with timezone.override(ZoneInfo(zone)):
        for value in values:
            assert times.exact(value) == date_format(value, times.EXACT_FORMAT)
            aware = value.replace(tzinfo=ZoneInfo(zone))
            expected = date_format(timezone.localtime(aware), times.EXACT_FORMAT)
            assert times.exact(aware) == expected


NOW = datetime(2026, 12, 7, 15, 27, 53, tzinfo=ZoneInfo("UTC"))
AGES = [0, 1, 59, 60, 61, 3599, 3600, 86399, 86400, 90000, 820800, 3499200, 34603200, 69120000]


@pytest.fixture
def clock(monkeypatch):
    """naturaltime's clock held at NOW (both functions read it), so that no second passes
    between them."""
    import django.contrib.humanize.templatetags.humanize as humanize

    class Held(datetime):
        @classmethod
        def now(cls, tz=None):
            return NOW if tz is not None else NOW.replace(tzinfo=None)

    monkeypatch.setattr(humanize, "datetime", Held)


@pytest.mark.parametrize("language", ["en-us", "fr", "de"])
def test_relative_says_what_naturaltime_says_in_the_active_language(clock, language):
    with translation.override(language):
        for seconds in AGES:
            for sign in (1, -1):
                value = NOW - timedelta(seconds=sign * seconds)
                assert times.relative(value) == str(naturaltime(value))
                naive = value.replace(tzinfo=None)
                assert times.relative(naive) == str(naturaltime(naive))
    with translation.override("fr"):
        assert "3\xa0jours, 2\xa0heures" in times.relative(NOW - timedelta(days=3, hours=2))
    with translation.override("en-us"):
        assert times.relative(NOW - timedelta(days=3, hours=2)) == "3\xa0days, 2\xa0hours ago"
        assert times.relative(NOW) == "now"
