"""The events a subscription can choose, and the `data` of each event's body.

The domain functions that make each event happen call `webhooks.emit(name, *objects,
**extra)` in their own transaction; what a receiver gets is built here, so those apps
carry one line each and no payload code. Imported by apps on every layer: this module
imports no other app's models at import time.

Every builder takes the emitted objects (and the extra keywords of that call) and
returns, per object to announce, (key, data): a key makes the event's id stable, so an
event emitted twice for the same thing (a job that ran twice) is delivered once.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse

TEST_EVENT = "webhook.test"


@dataclass(frozen=True)
class Event:
    name: str
    description: str
    build: Callable[..., list[tuple[str | None, dict]]]


def _url(name: str, pk: int | None) -> str:
    if pk is None:
        return ""
    try:
        path = reverse(f"web:{name}", args=[pk])
    except NoReverseMatch:
        return ""
    return settings.POSTROOM["BASE_URL"].rstrip("/") + path


def _when(value) -> str | None:
    return value.isoformat() if value is not None else None


def _user(user) -> dict | None:
    if user is None:
        return None
    return {
        "id": user.pk,
        "username": user.get_username(),
        "name": user.get_full_name() if hasattr(user, "get_full_name") else "",
        "email": getattr(user, "email", ""),
    }


def _user_by_id(user_id: int | None) -> dict | None:
    if user_id is None:
        return None
    from django.contrib.auth import get_user_model

    return _user(get_user_model().objects.filter(pk=user_id).first())


def _mailbox(mailbox) -> dict | None:
    if mailbox is None:
        return None
    return {"id": mailbox.pk, "address": mailbox.address, "name": getattr(mailbox, "name", "")}


def _conversation(conversation) -> dict:
    return {
        "id": conversation.pk,
        "subject": conversation.subject,
        "status": conversation.status,
        "mailbox": _mailbox(conversation.mailbox),
        "responsible": _user(conversation.responsible),
        "url": _url("conversation", conversation.pk),
    }


# ------------------------------------------------------------------ builders


def _message_received(messages: Iterable, *, mailbox=None, **_) -> list:
    from postroom.mail.models import Attachment, ConversationMessage, Message

    parsed = [m for m in messages if m.status == Message.Status.PARSED]
    if not parsed:
        return []
    links = ConversationMessage.objects.filter(message__in=[m.pk for m in parsed])
    if mailbox is not None:
        links = links.filter(mailbox=mailbox)
    conversation_of = dict(links.values_list("message_id", "conversation_id"))
    with_files = set(
        Attachment.objects.filter(message__in=[m.pk for m in parsed], is_inline=False)
        .values_list("message_id", flat=True)
        .distinct()
    )
    found = []
    for message in parsed:
        conversation_id = conversation_of.get(message.pk)
        data = {
            "message": {
                "id": message.pk,
                "message_id": message.message_id,
                "subject": message.subject,
                "from": {"name": message.from_name, "address": message.from_address},
                "to": list(message.to_addresses or []),
                "cc": list(message.cc_addresses or []),
                "date": _when(message.date),
                "kind": message.kind,
                "has_attachments": message.pk in with_files,
            },
            "mailbox": _mailbox(mailbox),
            "conversation": {"id": conversation_id, "url": _url("conversation", conversation_id)}
            if conversation_id
            else None,
        }
        found.append((f"{message.pk}", data))
    return found


def _conversation_assigned(conversations, *, previous=None, actor=None, reason="", **_) -> list:
    return [
        (
            None,
            {
                "conversation": _conversation(c),
                "responsible": _user(c.responsible),
                "previous_responsible": _user_by_id(previous),
                "by": _user(actor),
                "reason": reason or "",
            },
        )
        for c in conversations
    ]


def _status_changed(conversations, *, previous=None, actor=None, reason="", **_) -> list:
    return [
        (
            None,
            {
                "conversation": _conversation(c),
                "status": c.status,
                "previous_status": previous,
                "by": _user(actor),
                "reason": reason or "",
            },
        )
        for c in conversations
    ]


def _commented(comments, **_) -> list:
    """Teamwork: an internal comment (never sent to the customer) and who it mentions."""
    return [
        (
            f"{comment.pk}",
            {
                "conversation": _conversation(comment.conversation),
                "comment": {
                    "id": comment.pk,
                    "body": comment.body,
                    "created_at": _when(comment.created_at),
                    "mentions": [_user(u) for u in comment.mentions.all()],
                },
                "by": _user(comment.author),
            },
        )
        for comment in comments
    ]


def _lead(lead) -> dict:
    return {
        "id": lead.pk,
        "title": lead.title,
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company_name": lead.company_name,
        "status": lead.status,
        "responsible": _user(lead.responsible),
        "source_mailbox": _mailbox(lead.source_mailbox),
        "created_at": _when(lead.created_at),
        "url": _url("lead", lead.pk),
    }


def _lead_created(leads, **_) -> list:
    return [(f"{lead.pk}", {"lead": _lead(lead)}) for lead in leads]


def _stage(stage) -> dict | None:
    if stage is None:
        return None
    return {"id": stage.pk, "name": stage.name, "semantics": stage.semantics}


def _amount(value) -> str | None:
    return str(value) if isinstance(value, Decimal) else value


def _deal_stage_changed(items, *, previous=None, actor=None, **_) -> list:
    from postroom.crm.models import Deal

    return [
        (
            None,
            {
                "deal": {
                    "id": deal.pk,
                    "title": deal.title,
                    "amount": _amount(deal.amount),
                    "pipeline": {"id": deal.pipeline_id, "name": deal.pipeline.name},
                    "contact_id": deal.contact_id,
                    "company_id": deal.company_id,
                    "responsible": _user(deal.responsible),
                    "closed_at": _when(deal.closed_at),
                    "url": _url("deal", deal.pk),
                },
                "stage": _stage(deal.stage),
                "previous_stage": _stage(previous),
                "by": _user(actor),
            },
        )
        for deal in items
        if isinstance(deal, Deal)  # smart items have stages too: not this event
    ]


def _outbox(outbox) -> dict:
    return {
        "id": outbox.pk,
        "message_id": outbox.message_id,
        "subject": outbox.subject,
        "kind": outbox.kind,
        "from": outbox.sender,
        "recipients": list(outbox.recipients or []),
        "mailbox": _mailbox(outbox.mailbox),
        "author": _user(outbox.author),
        "conversation_id": outbox.conversation_id,
    }


def _email_sent(outboxes, *, sent_at=None, **_) -> list:
    return [
        (f"{o.pk}", {"email": _outbox(o), "sent_at": _when(sent_at or o.sent_at)}) for o in outboxes
    ]


def _email_bounced(bounces, *, reason="", **_) -> list:
    from postroom.outbound.models import OutboxMessage

    found = []
    for bounce in bounces:
        for outbox in OutboxMessage.objects.filter(bounce=bounce).select_related(
            "mailbox", "author"
        ):
            data = {
                "email": _outbox(outbox),
                "reason": reason,
                "bounce": {"message_id": bounce.message_id, "subject": bounce.subject},
            }
            found.append((f"{bounce.pk}:{outbox.pk}", data))
    return found


def _tracking(kind: str) -> Callable[..., list]:
    def build(emails, *, recipient="", url="", client="", **_) -> list:
        """`emails`: tracked emails or their ids (the Outbox row's id)."""
        from postroom.outbound.models import OutboxMessage

        ids = [getattr(e, "pk", e) for e in emails]
        outboxes = OutboxMessage.objects.select_related("mailbox", "author").defer(
            "raw", "composition"
        )
        return [
            (
                None,
                {
                    "email": _outbox(outbox),
                    "recipient": recipient,
                    **({"url": url} if kind == "click" else {}),
                    "client": client,
                },
            )
            for outbox in outboxes.filter(pk__in=ids).order_by("pk")
        ]

    return build


def _test(subscriptions, *, by=None, **_) -> list:
    return [
        (
            None,
            {
                "subscription": {"id": s.pk, "url": s.url},
                "by": _user(by),
                "text": "A test event from Postroom: your endpoint receives and verifies.",
            },
        )
        for s in subscriptions
    ]


EVENTS: dict[str, Event] = {
    e.name: e
    for e in (
        Event("message.received", "An email arrived in a mailbox and was read", _message_received),
        Event(
            "conversation.assigned",
            "A conversation got a responsible person, another one, or none",
            _conversation_assigned,
        ),
        Event(
            "conversation.status_changed",
            "A conversation was opened, set pending or closed",
            _status_changed,
        ),
        Event(
            "conversation.commented",
            "A colleague commented on a conversation (internal, with its mentions)",
            _commented,
        ),
        Event("lead.created", "A lead was created (from an email or by hand)", _lead_created),
        Event("deal.stage_changed", "A deal moved to another stage", _deal_stage_changed),
        Event("email.sent", "An email left through the Outbox (the server took it)", _email_sent),
        Event("email.bounced", "A sent email came back as a bounce", _email_bounced),
        Event("email.opened", "A recipient opened a tracked email", _tracking("open")),
        Event("email.clicked", "A recipient clicked a link of a tracked email", _tracking("click")),
    )
}
# Sent by "Send test event" only; no subscription chooses it.
TEST = Event(TEST_EVENT, "A test event", _test)


def event(name: str) -> Event:
    if name == TEST_EVENT:
        return TEST
    return EVENTS[name]


def choices() -> list[tuple[str, str]]:
    return [(e.name, f"{e.name} — {e.description}") for e in EVENTS.values()]


def payload_json_default(value: Any) -> Any:
    """json.dumps's fallback for the odd value a builder passes through."""
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
