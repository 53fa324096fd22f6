"""{{ x.created_at|when }} in lists, {{ message.date|when_exact }} where seconds matter
(postroom.web.times)."""

from django import template

from postroom.web import times

register = template.Library()

register.filter("when", times.when)
register.filter("when_exact", times.when_exact)
register.filter("exact_time", times.exact)


@register.simple_tag
def time_zone_names() -> tuple[str, ...]:
    from postroom.accounts.timezones import zone_names

    return zone_names()


@register.filter
def without_wait(reason: str) -> str:
    """A waiting email's reason without its own 'waits until …' (outbound.delivery writes
    it for logs, in the server's zone): the page says it once, in the reader's zone."""
    return times.without_wait(reason or "")


@register.filter
def iso_when(value: str):
    """An ISO time kept in an event's JSON detail, shown exact in the reader's zone."""
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(value) if isinstance(value, str) else None
    return times.when_exact(parsed) if parsed else ""


@register.filter
def cell(value):
    """A list's cell: a datetime reads relative (exact on hover), anything else as it is."""
    from datetime import datetime

    return times.when(value) if isinstance(value, datetime) else value
