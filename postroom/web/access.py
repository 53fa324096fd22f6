"""Load-and-check helpers shared by every view: one place decides 404 versus 403.

A user who may not read a mailbox gets 404 for it and for everything in it, so that
nothing confirms it exists; one who reads it but lacks a higher right gets 403.
"""

from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404
from django.shortcuts import get_object_or_404

from postroom.mail.models import Conversation, ConversationMessage, Message, MessageCopy
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant


def get_mailbox_for_user(user, mailbox_id: int, level: int | None = None) -> Mailbox:
    mailbox = get_object_or_404(mailboxes_for(user), pk=mailbox_id)
    if level is not None and not mailboxes_for(user, level).filter(pk=mailbox.pk).exists():
        label = MailboxGrant.Level(level).label.lower()
        raise PermissionDenied(f"this needs the {label} right on {mailbox.address}")
    return mailbox


def get_conversation_for_user(user, conversation_id: int, level: int | None = None):
    conversation = get_object_or_404(
        Conversation.objects.select_related("mailbox"), pk=conversation_id
    )
    get_mailbox_for_user(user, conversation.mailbox_id, level)
    return conversation


def get_message_for_user(user, message_id: int) -> Message:
    """The message if a mailbox the user may read holds a copy of it, or lists a
    conversation it is in (one moved there: mail.workflow.do_move_conversation; its
    copies stay on the first mailbox's server); else 404."""
    message = get_object_or_404(Message, pk=message_id)
    readable = mailboxes_for(user)
    if not MessageCopy.objects.filter(message=message, mailbox__in=readable).exists() and not (
        ConversationMessage.objects.filter(message=message, conversation__mailbox__in=readable)
        .exclude(conversation__mailbox=F("mailbox"))
        .exists()
    ):
        raise Http404
    return message
