from django import template

from postroom.tracking.display import read_state

register = template.Library()


@register.inclusion_tag("tracking/read_mark.html")
def read_mark(message) -> dict:
    """ "Read" (first real open, count) or "Not read yet" under a tracked sent email."""
    return {"state": read_state(message.pk)}
