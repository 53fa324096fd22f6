"""Reply deadlines on the inbox's rows: "overdue", "soon" or nothing."""

from django import template

from postroom.routing.sla import state_of

register = template.Library()


@register.filter
def due_state(due_at) -> str:
    return state_of(due_at)
