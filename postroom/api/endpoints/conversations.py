"""Conversations: list (filters, cursor pages), read, assign, status, snooze, comment.

The same rules as the conversation page and the inbox (web/inbox_views.py): reading
needs the read right on the conversation's mailbox (else 404), workflow changes the
reply right (else 403), comments the read right; every change is a mail.workflow
action.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from ninja import Query, Router, Schema, Status
from pydantic import Field

from postroom.crm.access import items_for, items_of_messages
from postroom.crm.items import content_type_of
from postroom.crm.models import TimelineEntry
from postroom.mail import inbox, workflow
from postroom.mail.models import Comment, Conversation, ConversationEvent, ConversationMessage
from postroom.mailboxes.models import MailboxGrant
from postroom.web.access import get_conversation_for_user

from ..errors import ApiError, responses
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page_desc
from .common import ItemRef, Ok, Page, caller, item_model, item_ref

router = Router(tags=["conversations"])

StatusName = Literal["open", "pending", "closed"]


class ConversationOut(Schema):
    id: int
    mailbox_id: int
    subject: str
    status: StatusName
    responsible_id: int | None
    last_message_at: datetime
    last_sender: str
    message_count: int
    has_attachment: bool
    snoozed_until: datetime | None
    waiting_since: datetime | None
    closed_at: datetime | None
    status_changed_at: datetime | None
    reply_due_at: datetime | None


class MessageSummary(Schema):
    id: int
    subject: str
    from_name: str
    from_address: str
    date: datetime | None
    has_attachments: bool
    crm_items: list[ItemRef]


class EventOut(Schema):
    id: int
    kind: str
    actor_id: int | None
    user_id: int | None
    created_at: datetime
    detail: dict


class CommentOut(Schema):
    id: int
    author_id: int | None
    body: str
    created_at: datetime
    mention_ids: list[int]


class ConversationDetail(ConversationOut):
    messages: list[MessageSummary]
    events: list[EventOut]
    comments: list[CommentOut]


class ListFilters(Schema):
    mailbox: int | None = Field(None, description="a mailbox's id")
    status: StatusName | None = None
    responsible: str | None = Field(
        None, description="a user's id, or `none` for conversations nobody is responsible for"
    )
    crm_kind: str | None = Field(
        None, description="with crm_id: only conversations with email on this CRM item"
    )
    crm_id: int | None = None
    updated_since: datetime | None = Field(
        None,
        description="a new email, a status change, an assignment, a snooze or a comment since then",
    )
    cursor: str | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


def conversation_out(c: Conversation) -> dict:
    return {
        "id": c.pk,
        "mailbox_id": c.mailbox_id,
        "subject": c.subject,
        "status": c.status,
        "responsible_id": c.responsible_id,
        "last_message_at": c.last_message_at,
        "last_sender": c.last_sender,
        "message_count": c.message_count,
        "has_attachment": c.has_attachment,
        "snoozed_until": c.snoozed_until,
        "waiting_since": c.waiting_since,
        "closed_at": c.closed_at,
        "status_changed_at": c.status_changed_at,
        "reply_due_at": c.reply_due_at,
    }


def _responsible_filter(value: str | None):
    if value is None or value == "":
        return None
    if value == inbox.NOBODY:
        return inbox.NOBODY
    if value.isdigit() and len(value) < 19:
        return int(value)
    raise ApiError(422, "responsible is a user's id or `none`", code="invalid", field="responsible")


def _aware(when: datetime) -> datetime:
    return timezone.make_aware(when) if timezone.is_naive(when) else when


@router.get("/", response=responses(200, Page[ConversationOut]), summary="List conversations")
def list_conversations(request, filters: Query[ListFilters]):
    """Conversations of the mailboxes you may read, newest email first."""
    user = caller(request)
    ids = inbox.readable_mailbox_ids(user)
    if filters.mailbox is not None:
        if filters.mailbox not in ids:
            raise ApiError(404, "no such mailbox, or not yours to read", field="mailbox")
        ids = [filters.mailbox]
    # A conversation whose emails its mailbox no longer holds is off every list.
    listed = Conversation.objects.filter(message_count__gt=0, mailbox_id__in=ids)
    if filters.status:
        listed = listed.filter(status=filters.status)
    responsible = _responsible_filter(filters.responsible)
    if responsible == inbox.NOBODY:
        listed = listed.filter(responsible__isnull=True)
    elif responsible is not None:
        listed = listed.filter(responsible_id=responsible)
    if (filters.crm_kind is None) != (filters.crm_id is None):
        raise ApiError(422, "crm_kind and crm_id go together", code="invalid", field="crm_id")
    if filters.crm_kind is not None:
        model = item_model(filters.crm_kind)
        item = items_for(user, model).filter(pk=filters.crm_id).first()
        if item is None:
            raise ApiError(404, "no such CRM item, or not yours to read", field="crm_id")
        bound = TimelineEntry.objects.filter(
            content_type=content_type_of(model),
            object_id=item.pk,
            activity__message__conversationmessage__conversation=OuterRef("pk"),
        )
        listed = listed.filter(Exists(bound))
    if filters.updated_since is not None:
        since = _aware(filters.updated_since)
        listed = listed.filter(
            Q(last_message_at__gte=since)
            | Q(status_changed_at__gte=since)
            | Exists(
                ConversationEvent.objects.filter(conversation=OuterRef("pk"), created_at__gte=since)
            )
            | Exists(Comment.objects.filter(conversation=OuterRef("pk"), created_at__gte=since))
        )
    rows, next_cursor = page_desc(listed, filters.cursor, filters.limit, key="last_message_at")
    return {"items": [conversation_out(c) for c in rows], "next_cursor": next_cursor}


@router.get(
    "/{int:conversation_id}", response=responses(200, ConversationDetail), summary="Read one"
)
def read_conversation(request, conversation_id: int):
    """The conversation with its emails (those its mailbox still holds), the CRM items
    they are on (those you may read), its history and its comments."""
    user = caller(request)
    conversation = get_conversation_for_user(user, conversation_id)
    links = (
        ConversationMessage.objects.filter(
            conversation=conversation, message__copies__mailbox=conversation.mailbox
        )
        .select_related("message")
        .distinct()
        .order_by("message__date", "message__created_at")
    )
    messages = [link.message for link in links]
    on_items = items_of_messages(user, [m.pk for m in messages])
    with_files = set(
        ConversationMessage.objects.filter(
            conversation=conversation,
            message__attachments__is_inline=False,
        ).values_list("message_id", flat=True)
    )
    out = conversation_out(conversation)
    out["messages"] = [
        {
            "id": m.pk,
            "subject": m.subject,
            "from_name": m.from_name,
            "from_address": m.from_address,
            "date": m.date,
            "has_attachments": m.pk in with_files,
            "crm_items": [item_ref(i) for i in on_items.get(m.pk, [])],
        }
        for m in messages
    ]
    out["events"] = [
        {
            "id": e.pk,
            "kind": e.kind,
            "actor_id": e.actor_id,
            "user_id": e.user_id,
            "created_at": e.created_at,
            "detail": e.detail,
        }
        for e in conversation.events.order_by("created_at", "pk")
    ]
    out["comments"] = [comment_out(c) for c in _comments(conversation)]
    return out


def _comments(conversation: Conversation):
    return conversation.comments.prefetch_related("mentions").order_by("created_at", "pk")


def comment_out(c: Comment) -> dict:
    return {
        "id": c.pk,
        "author_id": c.author_id,
        "body": c.body,
        "created_at": c.created_at,
        "mention_ids": [u.pk for u in c.mentions.all()],
    }


def _apply(request, conversation_id: int, action: str, **options) -> dict:
    """One workflow action, as the conversation page's form does it: the reply right on
    the mailbox, then mail.workflow.do_apply."""
    user = caller(request)
    conversation = get_conversation_for_user(user, conversation_id, MailboxGrant.Level.REPLY)
    try:
        changed = workflow.do_apply(conversation, action, acting_user=user, **options)
    except workflow.WorkflowError as exc:
        raise ApiError(422, str(exc), code="invalid") from None
    return {"changed": changed}


class AssignIn(Schema):
    responsible_id: int | None = Field(..., description="the new responsible person; null: nobody")


@router.post(
    "/{int:conversation_id}/assign", response=responses(200, Ok), summary="Assign or unassign"
)
def assign(request, conversation_id: int, data: AssignIn):
    """Make someone who may read the mailbox responsible (null: nobody). Needs the
    reply right on the mailbox."""
    if data.responsible_id is None:
        return _apply(request, conversation_id, "unassign")
    person = get_user_model().objects.filter(pk=data.responsible_id, is_active=True).first()
    if person is None:
        # Checked after the conversation, so an unreadable one is still a 404.
        get_conversation_for_user(caller(request), conversation_id, MailboxGrant.Level.REPLY)
        raise ApiError(422, "no such active user", code="invalid", field="responsible_id")
    return _apply(request, conversation_id, "assign", responsible=person)


class StatusIn(Schema):
    status: StatusName


@router.post(
    "/{int:conversation_id}/status", response=responses(200, Ok), summary="Change the status"
)
def set_status(request, conversation_id: int, data: StatusIn):
    """Open, pending (waiting on the customer) or closed. Needs the reply right."""
    return _apply(request, conversation_id, data.status)


class SnoozeIn(Schema):
    until: datetime = Field(..., description="when it comes back; in the future")


@router.post("/{int:conversation_id}/snooze", response=responses(200, Ok), summary="Snooze")
def snooze(request, conversation_id: int, data: SnoozeIn):
    """Out of the working views until then. Needs the reply right."""
    return _apply(request, conversation_id, "snooze", until=_aware(data.until))


@router.delete("/{int:conversation_id}/snooze", response=responses(200, Ok), summary="Wake it now")
def wake(request, conversation_id: int):
    return _apply(request, conversation_id, "wake")


class MoveIn(Schema):
    mailbox_id: int = Field(..., description="the mailbox to list it under")


@router.post(
    "/{int:conversation_id}/move", response=responses(200, Ok), summary="Move to another mailbox"
)
def move(request, conversation_id: int, data: MoveIn):
    """List the conversation under another mailbox (its emails' copies stay on the first
    one's server; see mail.workflow.do_move_conversation). Needs the reply right on both."""
    from postroom.mailboxes.access import mailboxes_for

    user = caller(request)
    target = mailboxes_for(user).filter(pk=data.mailbox_id).first()
    if target is None:
        # Checked after the conversation, so an unreadable one is still a 404.
        get_conversation_for_user(user, conversation_id, MailboxGrant.Level.REPLY)
        raise ApiError(422, "no such mailbox", code="invalid", field="mailbox_id")
    return _apply(request, conversation_id, "move", to_mailbox=target)


class CommentIn(Schema):
    body: str = Field(..., description="an internal note; @username mentions a colleague")


@router.get(
    "/{int:conversation_id}/comments",
    response=responses(200, list[CommentOut]),
    summary="List comments",
)
def list_comments(request, conversation_id: int):
    conversation = get_conversation_for_user(caller(request), conversation_id)
    return [comment_out(c) for c in _comments(conversation)]


@router.post(
    "/{int:conversation_id}/comments",
    response=responses(201, CommentOut),
    summary="Comment",
)
def add_comment(request, conversation_id: int, data: CommentIn):
    """An internal comment: never sent to the customer. Needs the read right."""
    user = caller(request)
    conversation = get_conversation_for_user(user, conversation_id)
    try:
        comment = workflow.do_comment(conversation, data.body, author=user)
    except workflow.WorkflowError as exc:
        raise ApiError(422, str(exc), code="invalid", field="body") from None
    return Status(201, comment_out(comment))
