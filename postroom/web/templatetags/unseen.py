"""For empty lists: is there something the user may not see? Then the page says
"nothing you may see", not "nothing here yet" (issue 19, point 8).

Only shared mailboxes count: a personal mailbox is someone's private mail, and whether
a colleague has one is none of the user's business.
"""

from django import template

from postroom.mail.models import Conversation
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox

register = template.Library()


def _hidden_shared(user):
    return Mailbox.objects.filter(kind=Mailbox.Kind.SHARED).exclude(
        pk__in=mailboxes_for(user).values("pk")
    )


@register.filter
def hidden_shared_mailboxes(user) -> int:
    """How many shared mailboxes the user may not read."""
    if not user.is_authenticated:
        return 0
    return _hidden_shared(user).count()


@register.filter
def has_mail_hidden(user) -> bool:
    """Whether shared mailboxes the user may not read hold conversations."""
    if not user.is_authenticated:
        return False
    return Conversation.objects.filter(
        mailbox__in=_hidden_shared(user), message_count__gt=0
    ).exists()
