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
    # The mailboxes first: as one statement, PostgreSQL read every conversation to find
    # none when the user reads every shared mailbox (an administrator's empty Mine list,
    # 440 ms on a million messages).
    hidden = list(_hidden_shared(user).values_list("pk", flat=True))
    return bool(hidden) and (
        Conversation.objects.filter(mailbox_id__in=hidden, message_count__gt=0).exists()
    )
