"""Whether a received email gets the mailbox's auto-reply: the pipeline's step after
assignment, in the capture's transaction.

    due = plan(mailbox, messages, conversations)   # here: who gets one; skips recorded
    outbound.autoreply.queue(mailbox, due)          # there: rendered, into the Outbox

A mailbox answers by itself only when its AutoReply says so now (outside its calendar's
hours, on a holiday, or always). Then an email is never answered (RFC 3834 and what
mail-loop post-mortems taught) when it is: a bounce, an auto-reply, list or bulk mail
(mail.classify), marked with X-Loop naming us or Postroom's own auto-reply header, from
a no-reply style or invalid sender, from the organisation (its users, mailboxes and
internal domains), only in the spam folder, or from a sender answered by this mailbox
within its period (4 days by default). Each such email gets an AutoReplyLog saying why,
shown in its conversation's history; an email is decided once (a unique key), so a
re-run of the pipeline sends nothing twice.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.parser import BytesHeaderParser
from email.policy import compat32

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from postroom.mail import rawstore
from postroom.mail.models import Conversation, ConversationMessage, Message, MessageCopy
from postroom.mail.workflow import _organisation_addresses as organisation_addresses
from postroom.mailboxes.models import Folder, Mailbox

from .autoreply_models import AutoReply, AutoReplyLog

logger = logging.getLogger(__name__)

# Postroom's mark on its own auto-replies: another Postroom (or this one) never answers
# them, whatever else their headers say.
LOOP_HEADER = "X-Postroom-Auto-Reply"

# Mail received longer ago than this is old mail fetched late (a new mailbox's first
# days, a wider window): answering it now would surprise everyone. It is left alone,
# without a record (a backfill would write thousands).
MAX_AGE = timedelta(days=1)

# Local parts of senders nobody reads (RFC 3834 5.2 names owner-*, *-request,
# MAILER-DAEMON, LISTSERV, majordomo; the rest is what peers learned).
_NO_REPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply|mailer[-_.]?daemon|postmaster"
    r"|listserv|majordomo|bounces?|owner-.*|.*-request|.*-bounces?|notifications?|noreply[-+.].*"
    r"|no[-_.]?reply[-+.].*|auto[-_.]?reply|autoresponder|daemon|root|nobody)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Due:
    """An email that gets the auto-reply: outbound renders and queues it."""

    message: Message
    conversation: Conversation | None
    sender: str
    settings: AutoReply


def settings_of(mailbox: Mailbox) -> AutoReply | None:
    return AutoReply.objects.filter(mailbox=mailbox).select_related("calendar").first()


def answers_now(settings: AutoReply | None, at: datetime) -> bool:
    """Whether the mailbox's auto-reply is on at `at` (an aware datetime)."""
    if settings is None or settings.when == AutoReply.When.OFF:
        return False
    if settings.when == AutoReply.When.ALWAYS:
        return True
    calendar = settings.calendar
    if calendar is None:
        return False  # refused by the form; a calendar deleted since: off, never "always"
    local_day = at.astimezone(_zone(calendar.time_zone)).date().isoformat()
    if settings.when == AutoReply.When.HOLIDAYS:
        return local_day in {str(h) for h in calendar.holidays}
    return not calendar.is_open(at)


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def sender_refusal(address: str, *, is_ours) -> str:
    """Why this sender never gets an auto-reply ("" when they may)."""
    address = (address or "").strip().lower()
    if not address or "@" not in address:
        return "no valid sender address"
    local, _, domain = address.rpartition("@")
    try:
        validate_email(address)
    except ValidationError:
        return f"the sender {address!r} is not a valid address"
    if "." not in domain or domain.endswith((".invalid", ".localhost", ".example")):
        return f"the sender's domain {domain!r} is not a mail domain"
    if _NO_REPLY.match(local):
        return f"a no-reply sender ({address})"
    if is_ours(address):
        return f"the sender {address} is one of ours (a colleague, a mailbox or an internal domain)"
    return ""


def header_refusal(message: Message, headers, mailbox_addresses: set[str]) -> str:
    """Why the email's own headers forbid an auto-reply ("" when they do not)."""
    if message.kind == "bounce":
        return "a bounce"
    if headers is not None and (named := _named_in(headers, mailbox_addresses)):
        return named
    if message.kind == "auto_reply":
        return "an automatic reply"
    if message.kind == "list":
        return "mailing-list mail"
    return ""


def _named_in(headers, mailbox_addresses: set[str]) -> str:
    if headers.get(LOOP_HEADER) is not None:
        return f"an auto-reply of a Postroom ({LOOP_HEADER})"
    for value in headers.get_all("X-Loop", []) or []:
        text = str(value).lower()
        if "postroom" in text or any(a in text for a in mailbox_addresses):
            return f"X-Loop names us ({' '.join(str(value).split())})"
    auto = " ".join(str(headers.get("Auto-Submitted", "")).split()).lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto}"
    precedence = " ".join(str(headers.get("Precedence", "")).split()).lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("List-Id", "List-Unsubscribe", "List-Post"):
        if headers.get(name) is not None:
            return f"mailing-list mail ({name})"
    if str(headers.get("Return-Path", "")).strip() == "<>":
        return "an empty Return-Path (a delivery report)"
    return ""


def plan(
    mailbox: Mailbox,
    messages: list[Message],
    conversations: dict[int, Conversation],
    *,
    now: datetime | None = None,
) -> list[Due]:
    """The emails of a captured batch that get the mailbox's auto-reply; every other
    received email that would have got one is recorded with the reason. Runs in the
    capture's transaction; locks the mailbox's AutoReply row so that two runners never
    both answer one sender."""
    now = now or timezone.now()
    settings = settings_of(mailbox)
    if not answers_now(settings, now):
        return []
    # Two job runners answering two emails of one sender take turns here.
    list(AutoReply.objects.select_for_update().filter(pk=settings.pk).values_list("pk"))
    ids = [m.pk for m in messages]
    decided = set(
        AutoReplyLog.objects.filter(mailbox=mailbox, message_id__in=ids).values_list(
            "message_id", flat=True
        )
    )
    folders = _folders_of(mailbox, ids)
    missing = [pk for pk in ids if pk not in conversations]
    if missing:
        links = ConversationMessage.objects.filter(mailbox=mailbox, message_id__in=missing)
        conversations = {**conversations, **{
            link.message_id: link.conversation
            for link in links.select_related("conversation__responsible")
        }}  # fmt: skip
    is_ours = organisation_addresses()
    mailbox_addresses = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    since = now - timedelta(days=settings.period_days)
    answered: dict[str, bool] = {}
    due: list[Due] = []
    for message in messages:
        if message.pk in decided or message.status != Message.Status.PARSED:
            continue
        if (message.received_at or message.date or message.created_at) < now - MAX_AGE:
            logger.debug("no auto-reply to message %s: received long ago", message.pk)
            continue
        roles = folders.get(message.pk, set())
        if roles and roles <= {Folder.Role.SENT}:
            continue  # our own sent mail, not a received email
        sender = (message.from_address or "").strip().lower()
        conversation = conversations.get(message.pk)
        reason = ""
        if roles and roles <= {Folder.Role.SPAM, Folder.Role.TRASH}:
            reason = "in the spam folder"
        reason = reason or header_refusal(message, _headers(message), mailbox_addresses)
        reason = reason or sender_refusal(sender, is_ours=is_ours)
        if not reason:
            if sender not in answered:
                answered[sender] = AutoReplyLog.objects.filter(
                    mailbox=mailbox, sender=sender, sent=True, created_at__gte=since
                ).exists()
            if answered[sender]:
                reason = (
                    f"{sender} had an auto-reply from this mailbox in the last "
                    f"{settings.period_days} day(s)"
                )
        if reason:
            record_skip(mailbox, message, conversation, sender, reason)
            continue
        answered[sender] = True  # one per sender in a batch, too
        due.append(Due(message, conversation, sender, settings))
    return due


def record_skip(mailbox, message, conversation, sender: str, reason: str) -> AutoReplyLog:
    logger.info("auto-reply to message %s skipped: %s", message.pk, reason)
    return AutoReplyLog.objects.create(
        mailbox=mailbox,
        message=message,
        conversation=conversation,
        sender=sender[:320],
        sent=False,
        reason=reason[:500],
    )


def record_sent(due: Due, outbox_id: int) -> AutoReplyLog:
    logger.info("auto-reply to message %s queued (outbox %s)", due.message.pk, outbox_id)
    return AutoReplyLog.objects.create(
        mailbox=due.settings.mailbox,
        message=due.message,
        conversation=due.conversation,
        sender=due.sender,
        sent=True,
        reason="",
        outbox_id=outbox_id,
    )


def history_of(conversation: Conversation):
    """What the auto-reply did in a conversation, for its history."""
    return AutoReplyLog.objects.filter(conversation=conversation).select_related("message")


def _folders_of(mailbox: Mailbox, ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = {}
    copies = MessageCopy.objects.filter(mailbox=mailbox, message_id__in=ids)
    for message_id, role in copies.values_list("message_id", "folder__role"):
        found.setdefault(message_id, set()).add(role or "")
    return found


def _headers(message: Message):
    """The email's own header block, read from its raw copy (None when unreadable:
    the classification stored on the message still holds)."""
    try:
        raw = rawstore.get(message.raw_sha256)
    except Exception:  # noqa: BLE001 - a missing raw copy must not block mail
        logger.warning("raw copy of message %s unreadable for the auto-reply", message.pk)
        return None
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    head = raw if end < 0 else raw[: end + 2]
    return BytesHeaderParser(policy=compat32).parsebytes(head[: 256 * 1024])
