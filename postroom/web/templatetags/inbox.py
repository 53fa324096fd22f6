"""Small helpers of the inbox's templates."""

from django import template

register = template.Library()


@register.filter
def initials(user) -> str:
    """ "AS" for Alice Smith; the username's first letter without a name."""
    if user is None:
        return ""
    letters = (user.first_name[:1] + user.last_name[:1]).upper()
    return letters or user.get_username()[:1].upper()


@register.simple_tag
def own_subject(message, conversation) -> str:
    from postroom.web.inbox_views import own_subject as differs

    return differs(message, conversation)


@register.filter
def duration(seconds) -> str:
    """3 h 20 min, 2 d 4 h, 45 s: how long a customer waited."""
    if seconds is None:
        return ""
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{secs} s"
