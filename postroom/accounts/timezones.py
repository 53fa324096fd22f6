"""Each user's time zone: chosen on the profile, or the browser's on first login.

Times are stored in UTC; the zone is only how they are shown. The middleware
(TimeZoneMiddleware) activates the user's zone for each request, so Django's template
rendering of aware datetimes ({{ when }}, |date, localtime) uses it everywhere.
"""

import logging
import zoneinfo
from functools import cache

from django.conf import settings
from django.utils import timezone

from .models import User

log = logging.getLogger(__name__)


class TimeZoneError(ValueError):
    """Not a time zone Postroom knows; the message says which."""


@cache
def zone_names() -> tuple[str, ...]:
    """Every IANA zone name, sorted, for the profile's picker and for validation."""
    return tuple(sorted(zoneinfo.available_timezones()))


def zone_of(user) -> zoneinfo.ZoneInfo:
    """The zone `user`'s times are shown in: theirs, else the server's TIME_ZONE."""
    name = getattr(user, "time_zone", "") or settings.TIME_ZONE
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # A zone removed from tzdata after it was saved: show the server's rather than fail.
        log.warning("user %s has an unknown time zone %r", user.pk, name)
        return zoneinfo.ZoneInfo(settings.TIME_ZONE)


def do_set_time_zone(user: User, name: str, *, only_if_unset: bool = False) -> bool:
    """Save `name` as `user`'s zone; True if it changed. `only_if_unset` is for the
    browser's guess on first login: it never overrides a zone the user chose."""
    name = name.strip()
    if name not in zone_names():
        raise TimeZoneError(f"{name!r} is not a time zone")
    rows = User.objects.filter(pk=user.pk)
    if only_if_unset:
        rows = rows.filter(time_zone="")
    changed = bool(rows.exclude(time_zone=name).update(time_zone=name))
    if changed:
        user.time_zone = name
    return changed


class TimeZoneMiddleware:
    """Show this request's times in the logged-in user's zone (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.time_zone:
            timezone.activate(zone_of(user))
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
