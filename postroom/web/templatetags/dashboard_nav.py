"""The header's Dashboard link: for those who manage a shared mailbox."""

from django import template

register = template.Library()


@register.filter
def manages_a_mailbox(user) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    from postroom.web.dashboard_views import managed_mailboxes

    return managed_mailboxes(user).exists()
