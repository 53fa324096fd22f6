"""{% api_tokens_card %}: the profile page's list of the user's API tokens and the form
that makes one (the page belongs to web; the tokens to this app)."""

from django import template

from ..models import ApiToken
from ..tokens import tokens_of

register = template.Library()


@register.inclusion_tag("api/tokens_card.html", takes_context=True)
def api_tokens_card(context):
    request = context["request"]
    return {
        "tokens": list(tokens_of(request.user)),
        "scopes": ApiToken.Scope.choices,
        "csrf_token": context.get("csrf_token"),
        "now": None,
    }
