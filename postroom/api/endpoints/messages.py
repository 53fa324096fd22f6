"""Messages: read one, its raw .eml, its attachments.

The rule of the message pages (web/access.py get_message_for_user): a message is
readable when a mailbox the caller may read holds a copy of it; otherwise 404.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema

from postroom.crm.access import items_of_message
from postroom.mail import attachments, rawstore
from postroom.mail.bounds import html_too_complex
from postroom.mail.models import Attachment, Message
from postroom.mail.sanitize import sanitize_html
from postroom.mailboxes.access import mailboxes_for
from postroom.web.access import get_message_for_user

from ..errors import ERRORS, ApiError, responses
from .common import ItemRef, caller, item_ref

logger = logging.getLogger(__name__)

router = Router(tags=["messages"])


class AttachmentOut(Schema):
    id: int
    position: int
    filename: str
    content_type: str
    size: int
    is_inline: bool
    sha256: str


class MessageOut(Schema):
    id: int
    message_id: str
    status: str
    kind: str
    subject: str
    from_name: str
    from_address: str
    to: list
    cc: list
    in_reply_to: str
    date: datetime | None
    received_at: datetime | None
    raw_size: int
    text_body: str
    html_body: str | None
    html_too_complex: str | None
    body_truncated: bool
    conversation_ids: list[int]
    attachments: list[AttachmentOut]
    crm_items: list[ItemRef]


def attachment_out(a: Attachment) -> dict:
    return {
        "id": a.pk,
        "position": a.position,
        "filename": a.filename,
        "content_type": a.content_type,
        "size": a.size,
        "is_inline": a.is_inline,
        "sha256": a.sha256,
    }


def _safe_html(message: Message) -> tuple[str | None, str | None]:
    """The HTML part sanitised as the conversation page shows it (no remote images, no
    script); None with the reason for HTML past mail.bounds' limits."""
    if not message.html_body:
        return None, None
    too_complex = html_too_complex(message.html_body)
    if too_complex:
        return None, too_complex
    return sanitize_html(message.html_body, allow_remote_images=False).html, None


@router.get("/{int:message_id}", response=responses(200, MessageOut), summary="Read a message")
def read_message(request, message_id: int):
    """The email with its text, its HTML sanitised (no remote images, nothing that
    runs), its attachments and the CRM items it is on (those you may read)."""
    user = caller(request)
    message = get_message_for_user(user, message_id)
    html, too_complex = _safe_html(message)
    conversations = sorted(
        message.conversationmessage_set.filter(mailbox__in=mailboxes_for(user)).values_list(
            "conversation_id", flat=True
        )
    )
    return {
        "id": message.pk,
        "message_id": message.message_id,
        "status": message.status,
        "kind": message.kind,
        "subject": message.subject,
        "from_name": message.from_name,
        "from_address": message.from_address,
        "to": message.to_addresses,
        "cc": message.cc_addresses,
        "in_reply_to": message.in_reply_to,
        "date": message.date,
        "received_at": message.received_at,
        "raw_size": message.raw_size,
        "text_body": message.text_body,
        "html_body": html,
        "html_too_complex": too_complex,
        "body_truncated": message.body_truncated,
        "conversation_ids": conversations,
        "attachments": [attachment_out(a) for a in message.attachments.order_by("position")],
        "crm_items": [item_ref(i) for i in items_of_message(user, message)],
    }


def _binary(content_type: str) -> dict:
    return {
        "responses": {
            200: {
                "description": "the bytes",
                "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    }


@router.get(
    "/{int:message_id}/raw",
    response=ERRORS,
    summary="The raw email (.eml)",
    openapi_extra=_binary("message/rfc822"),
)
def raw_message(request, message_id: int):
    """The email byte for byte as it was received."""
    message = get_message_for_user(caller(request), message_id)
    try:
        raw = rawstore.get(message.raw_sha256)
    except rawstore.Unreadable as exc:
        logger.error("raw bytes of message %s unreadable: %s", message.pk, exc)
        raise ApiError(
            500,
            "the stored original of this email cannot be read; it is in the server's log",
            code="raw_unreadable",
        ) from None
    response = HttpResponse(raw, content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="message-{message.pk}.eml"'
    return response


@router.get(
    "/{int:message_id}/attachments",
    response=responses(200, list[AttachmentOut]),
    summary="List attachments",
)
def list_attachments(request, message_id: int):
    message = get_message_for_user(caller(request), message_id)
    return [attachment_out(a) for a in message.attachments.order_by("position")]


@router.get(
    "/{int:message_id}/attachments/{int:attachment_id}",
    response=ERRORS,
    summary="Download an attachment",
    openapi_extra=_binary("application/octet-stream"),
)
def download_attachment(request, message_id: int, attachment_id: int):
    """The attachment's bytes, with its own content type and file name."""
    message = get_message_for_user(caller(request), message_id)
    attachment = get_object_or_404(Attachment, pk=attachment_id, message=message)
    from postroom.web.views import _attachment_disposition

    response = HttpResponse(
        attachments.read(attachment),
        content_type=attachment.content_type or "application/octet-stream",
    )
    response["Content-Disposition"] = _attachment_disposition(attachment.filename)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
