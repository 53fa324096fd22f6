from django import template

from postroom.tracking.display import read_state
from postroom.tracking.switches import is_opted_out

register = template.Library()


@register.inclusion_tag("tracking/read_mark.html")
def read_mark(message) -> dict:
    """ "Read" (first real open, count) or "Not read yet" under a tracked sent email."""
    return {"state": read_state(message.pk)}


@register.inclusion_tag("tracking/opt_out.html", takes_context=True)
def tracking_opt_out(context, address: str, back: str) -> dict:
    """The button that stops (or resumes) tracking the mail to an item's address."""
    return {
        "address": address,
        "opted_out": is_opted_out(address),
        "back": back,
        "csrf_token": context.get("csrf_token"),
    }
