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


@register.inclusion_tag("tracking/stage_triggers.html", takes_context=True)
def stage_triggers(context, owner) -> dict:
    """The editor of a pipeline's or smart type's email triggers: per stage, where an
    open and where a click of an item's email moves the item."""
    from postroom.crm.models import Pipeline
    from postroom.tracking.triggers import stages_of, triggers_of

    stages = stages_of(owner)
    current = triggers_of(owner)
    rows = [
        {
            "stage": stage,
            "targets": [s for s in stages if s.pk != stage.pk],
            "open": current.get((stage.pk, "open")),
            "click": current.get((stage.pk, "click")),
        }
        for stage in stages
    ]
    return {
        "owner": owner,
        "owner_kind": "pipeline" if isinstance(owner, Pipeline) else "smart-type",
        "items": "deal" if isinstance(owner, Pipeline) else "item",
        "rows": rows,
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("tracking/trigger_undo.html", takes_context=True)
def trigger_undo(context, entry) -> dict:
    """Under a stage change a trigger made: the Undo button, or that it was undone."""
    from postroom.tracking.models import TriggerFiring

    firing = TriggerFiring.objects.filter(entry_id=entry.pk).select_related("undone_by").first()
    return {"firing": firing, "csrf_token": context.get("csrf_token")}
