"""The header's CRM menu: the entities and each smart type."""

from django import template

from postroom.crm.models import SmartType

register = template.Library()


@register.inclusion_tag("crm/nav.html", takes_context=True)
def crm_menu(context) -> dict:
    return {"smart_types": list(SmartType.objects.only("name", "slug")), "user": context["user"]}
