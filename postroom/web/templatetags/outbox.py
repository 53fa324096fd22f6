"""The conversation page's sending area: Reply / Reply all / Forward, the Outbox emails
of the conversation that are not shown as messages yet (in their undo window, waiting,
failed) or that bounced, and the user's drafts of the conversation."""

from django import template
from django.db.models import Q
from django.utils import timezone

from postroom.mail.models import Conversation
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.failed import can_edit, can_fix
from postroom.outbound.models import Draft, OutboxMessage

register = template.Library()


@register.inclusion_tag("web/compose_panel.html", takes_context=True)
def outbox_panel(context, conversation: Conversation) -> dict:
    from postroom.web.compose_views import draft_url

    user = context["request"].user
    can_reply = mailboxes_for(user, MailboxGrant.Level.REPLY).filter(pk=conversation.mailbox_id)
    pending = list(
        OutboxMessage.objects.filter(conversation=conversation)
        .filter(
            ~Q(status=OutboxMessage.Status.SENT)
            | Q(stored_message__isnull=True)
            | Q(bounce__isnull=False)
        )
        .select_related("author")
        .defer("raw")
        .order_by("created_at", "pk")
    )
    now = timezone.now()
    drafts = Draft.objects.filter(conversation=conversation, author=user.pk)
    failed = [e for e in pending if e.status == OutboxMessage.Status.FAILED]
    fixable = {e.pk for e in failed if can_fix(user, e)}
    return {
        "conversation": conversation,
        "can_reply": can_reply.exists(),
        "pending": pending,
        "undoable": {e.pk for e in pending if e.author_id == user.pk and e.can_undo(now)},
        # Failed emails the user may retry, and of those, the ones a person wrote.
        "fixable": fixable,
        "editable": {e.pk for e in failed if e.pk in fixable and can_edit(e)},
        "drafts": [(draft, draft_url(draft)) for draft in drafts],
        "csrf_token": context.get("csrf_token"),
    }
