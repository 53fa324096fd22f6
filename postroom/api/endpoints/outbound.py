"""Sending: a new email from a mailbox, a reply (reply all, forward) in a conversation,
the Outbox entry's state, and Undo within the undo window.

Through outbound.actions.do_send_email as the compose form: the reply right on the
mailbox, the same placeholders, the Outbox with its undo window (POSTROOM_UNDO_SEND_
SECONDS), the organisation's and the mailbox's quotas (an email over them waits in the
Outbox), and an idempotency key so that a retried call queues one email.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from postroom.mail.models import Conversation, Message
from postroom.mail.workflow import do_stop_replying
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound import richtext
from postroom.outbound.actions import (
    Composition,
    NewerEmailError,
    OutboundError,
    UndoError,
    do_send_email,
    do_undo_send,
    draft_for,
)
from postroom.outbound.models import OutboxMessage
from postroom.web.access import get_conversation_for_user, get_mailbox_for_user

from ..errors import ApiError, responses
from .common import caller

router = Router(tags=["sending"])


class OutboxOut(Schema):
    id: int
    mailbox_id: int
    conversation_id: int | None
    kind: str
    status: str
    subject: str
    recipients: list[str]
    message_id: str
    not_before: datetime | None = Field(None, description="the undo window ends then")
    can_undo: bool
    attempts: int
    last_error: str
    sent_at: datetime | None


class EmailIn(Schema):
    to: list[str] = Field(..., description="addresses, `Name <address>` allowed")
    cc: list[str] = []
    subject: str = ""
    text: str = Field("", description="the body as plain text (or give html)")
    html: str = Field("", description="the body as HTML; cleaned as the editor's")
    track: bool = True
    idempotency_key: str = Field(
        "", max_length=64, description="the same key again returns the email already queued"
    )


class ReplyIn(Schema):
    mode: Literal["reply", "reply_all", "forward"] = "reply"
    message_id: int | None = Field(
        None, description="the email answered; default: the newest from the customer"
    )
    to: list[str] | None = Field(None, description="default: as the reply form fills it")
    cc: list[str] | None = None
    subject: str | None = None
    text: str = ""
    html: str = ""
    track: bool = True
    seen_message_id: int | None = Field(
        None,
        description="the newest email you had read; a newer one from the customer makes "
        "this a 409 (newer_email) instead of sending",
    )
    idempotency_key: str = Field("", max_length=64)


def outbox_out(outbox: OutboxMessage) -> dict:
    return {
        "id": outbox.pk,
        "mailbox_id": outbox.mailbox_id,
        "conversation_id": outbox.conversation_id,
        "kind": outbox.kind,
        "status": outbox.status,
        "subject": outbox.subject,
        "recipients": outbox.recipients,
        "message_id": outbox.message_id,
        "not_before": outbox.not_before,
        "can_undo": outbox.can_undo(),
        "attempts": outbox.attempts,
        "last_error": outbox.last_error,
        "sent_at": outbox.sent_at,
    }


def _html(data) -> str:
    if data.html.strip():
        return data.html
    return richtext.text_to_html(data.text) if data.text else ""


def _send(mailbox, composition: Composition, user, **options) -> OutboxMessage:
    try:
        return do_send_email(mailbox, composition, acting_user=user, **options)
    except NewerEmailError as exc:
        raise ApiError(
            409, f"{exc}; read it, then send again with its id", code="newer_email"
        ) from None
    except OutboundError as exc:
        raise ApiError(422, str(exc), code="invalid") from None


@router.post(
    "/mailboxes/{int:mailbox_id}/send",
    response=responses(202, OutboxOut),
    summary="Send a new email",
)
def send_email(request, mailbox_id: int, data: EmailIn):
    """Queued in the Outbox; sent after the undo window. Needs the reply right."""
    user = caller(request)
    mailbox = get_mailbox_for_user(user, mailbox_id, MailboxGrant.Level.REPLY)
    composition = Composition(to=data.to, cc=data.cc, subject=data.subject, html=_html(data))
    outbox = _send(
        mailbox,
        composition,
        user,
        kind=OutboxMessage.Kind.NEW,
        idempotency_key=data.idempotency_key,
        track=data.track,
    )
    return Status(202, outbox_out(outbox))


def _parent(conversation: Conversation, message_id: int | None) -> Message:
    """As the reply form: the email asked for, else the newest not sent by the mailbox."""
    in_thread = conversation.messages.order_by("-date", "-created_at")
    if message_id is not None:
        found = in_thread.filter(pk=message_id).first()
        if found is None:
            raise ApiError(404, "no such email in this conversation", field="message_id")
        return found
    theirs = in_thread.exclude(from_address__iexact=conversation.mailbox.address).first()
    found = theirs or in_thread.first()
    if found is None:
        raise ApiError(409, "this conversation has no email to answer", code="conflict")
    return found


@router.post(
    "/conversations/{int:conversation_id}/reply",
    response=responses(202, OutboxOut),
    summary="Reply, reply all or forward",
)
def reply(request, conversation_id: int, data: ReplyIn):
    """Recipients and subject default to what the reply form would fill in. Needs the
    reply right on the conversation's mailbox."""
    user = caller(request)
    conversation = get_conversation_for_user(user, conversation_id, MailboxGrant.Level.REPLY)
    parent = _parent(conversation, data.message_id)
    start = draft_for(data.mode, conversation.mailbox, user, parent)
    composition = Composition(
        to=data.to if data.to is not None else list(start.to),
        cc=data.cc if data.cc is not None else list(start.cc),
        subject=data.subject if data.subject is not None else start.subject,
        html=_html(data),
    )
    seen = data.seen_message_id
    if seen is None:
        seen = conversation.messages.order_by("-pk").values_list("pk", flat=True).first()
    outbox = _send(
        conversation.mailbox,
        composition,
        user,
        kind=data.mode,
        parent=parent,
        conversation=conversation,
        idempotency_key=data.idempotency_key,
        seen_message_id=seen,
        track=data.track,
    )
    do_stop_replying(conversation, user)
    return Status(202, outbox_out(outbox))


def _own_outbox(user, outbox_id: int) -> OutboxMessage:
    outbox = get_object_or_404(OutboxMessage.objects.defer("raw"), pk=outbox_id)
    get_mailbox_for_user(user, outbox.mailbox_id)  # 404 unless the caller reads it
    return outbox


@router.get("/outbox/{int:outbox_id}", response=responses(200, OutboxOut), summary="Outbox entry")
def read_outbox(request, outbox_id: int):
    """Where a sent email stands: queued, sending, sent or failed."""
    return outbox_out(_own_outbox(caller(request), outbox_id))


class UndoOut(Schema):
    draft_id: int


@router.post("/outbox/{int:outbox_id}/undo", response=responses(200, UndoOut), summary="Undo send")
def undo(request, outbox_id: int):
    """Take an email back within its undo window; it becomes your draft again."""
    user = caller(request)
    outbox = _own_outbox(user, outbox_id)
    get_mailbox_for_user(user, outbox.mailbox_id, MailboxGrant.Level.REPLY)
    try:
        draft = do_undo_send(outbox.pk, acting_user=user)
    except UndoError as exc:
        raise ApiError(409, str(exc), code="too_late") from None
    return {"draft_id": draft.pk}
