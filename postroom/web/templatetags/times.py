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
