"""Bounces of the email Postroom sent: linked to their Outbox row, with the reason.

`postroom.mail` classifies a bounce and sets `Message.bounce_of` when it holds the
email that bounced (classify reads its Message-ID from the report). Here, when such a
bounce is saved, the Outbox row of that email gets the bounce and its reason ("bounced:
550 5.1.1 user unknown"), the sender's pages show it, and the bounce joins the CRM
items the sent email is on. A bounce that arrives before the sent email was filed (a
fast rejecting server) is caught up by `link_early_bounces` when it is.

Connected to Message's post_save in OutboundConfig.ready(), because mail must not
import outbound (imports point one way along the layers).
"""

import logging
import re
from email import policy
from email.message import Message as EmailMessage
from email.parser import BytesParser

from django.db import transaction
from django.db.models import Q

from postroom import webhooks
from postroom.crm import actions as crm_actions
from postroom.mail import rawstore
from postroom.mail.models import Message, MessageCopy

from .models import OutboxMessage

logger = logging.getLogger(__name__)

_STATUS_CODE = re.compile(r"\b[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}\b.*|\b5\d\d\b.*")
MAX_REASON = 500


def _field(block: EmailMessage, name: str) -> str:
    value = block.get(name)
    return " ".join(str(value).split()) if value else ""


def _without_type(value: str) -> str:
    """'smtp; 550 5.1.1 ...' -> '550 5.1.1 ...'; 'rfc822; anna@x' -> 'anna@x'."""
    kind, sep, rest = value.partition(";")
    return rest.strip() if sep and " " not in kind.strip() else value


def bounce_reason(raw: bytes) -> str:
    """Why the email bounced, in the reporting server's words, as short as they allow.

    A delivery-status report (RFC 3464) gives recipient, action and diagnostic per
    recipient; other bounces (qmail, Exchange, ...) a text, from which the first line
    with an SMTP status is taken.
    """
    try:
        msg = BytesParser(policy=policy.compat32).parsebytes(raw)
    except Exception:  # noqa: BLE001 - unreadable: the subject-level fallback below
        return "delivery failed"
    reasons = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        for block in blocks[1:] if isinstance(blocks, list) else []:
            action = _field(block, "Action").lower()
            if action and action not in ("failed", "delayed"):
                continue  # delivered, relayed, expanded: not a failure
            recipient = _without_type(_field(block, "Final-Recipient"))
            words = _without_type(_field(block, "Diagnostic-Code")) or _field(block, "Status")
            reason = f"{recipient}: {words}" if recipient and words else words or recipient
            if action == "delayed":
                reason = f"delayed, still trying: {reason}"
            if reason:
                reasons.append(reason)
    if reasons:
        return "; ".join(reasons)[:MAX_REASON]
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            text = payload.decode(part.get_content_charset() or "utf-8", "replace")
            for line in text.splitlines():
                if found := _STATUS_CODE.search(line):
                    return " ".join(found.group(0).split())[:MAX_REASON]
            break
    subject = " ".join(str(msg.get("subject", "")).split())
    return (subject or "delivery failed")[:MAX_REASON]


def link_bounce(bounce: Message) -> int:
    """Put the bounce on the Outbox row of the email it reports; rows linked (0 or 1)."""
    if bounce.kind != Message.Kind.BOUNCE or bounce.bounce_of_id is None:
        return 0
    bounced = Message.objects.filter(pk=bounce.bounce_of_id).values_list("message_id", flat=True)
    mid = bounced.first() or ""
    rows = OutboxMessage.objects.filter(
        Q(stored_message_id=bounce.bounce_of_id) | (Q(message_id=mid) if mid else Q(pk=None)),
        bounce__isnull=True,
    )
    if not rows.exists():
        return 0
    try:
        reason = bounce_reason(rawstore.get(bounce.raw_sha256))
    except Exception:  # noqa: BLE001 - the raw bytes unreadable: link it all the same
        logger.exception("reading bounce %s failed", bounce.pk)
        reason = bounce.subject or "delivery failed"
    linked = rows.update(bounce=bounce, bounce_reason=reason)
    webhooks.emit("email.bounced", bounce, reason=reason)
    _bounce_on_timeline(bounce)
    logger.info("bounce %s linked to the sent email %s: %s", bounce.pk, mid, reason)
    return linked


def _bounce_on_timeline(bounce: Message) -> None:
    """The bounce on the CRM items of the email it reports, beside it."""
    from postroom.crm.models import Activity

    sent = Activity.objects.filter(message_id=bounce.bounce_of_id).first()
    if sent is None:
        return
    items = [entry.item for entry in sent.entries.all() if entry.item is not None]
    if not items:
        return
    activity = crm_actions.do_record_email_activity(bounce, direction="in")
    for item in items:
        crm_actions.do_bind_activity(activity, item)


def on_message_saved(sender, instance: Message, **kwargs) -> None:
    """post_save of Message: link a parsed bounce. Never breaks the save that fired it:
    a failure is logged and the bounce stays stored and shown as mail."""
    if instance.kind != Message.Kind.BOUNCE or instance.bounce_of_id is None:
        return
    try:
        with transaction.atomic():
            link_bounce(instance)
    except Exception:  # noqa: BLE001 - linking is a courtesy; storing the mail is not
        logger.exception("linking bounce %s to its sent email failed", instance.pk)


def link_early_bounces(outbox: OutboxMessage, message: Message) -> None:
    """Bounces that came back before the sent email was filed as a Message, and so were
    not linked: found among the mailbox's bounces since it was sent, by Message-ID."""
    if outbox.bounce_id is not None or outbox.sent_at is None:
        return
    candidates = (
        Message.objects.filter(
            kind=Message.Kind.BOUNCE,
            bounce_of__isnull=True,
            created_at__gte=outbox.sent_at,
            pk__in=MessageCopy.objects.filter(mailbox_id=outbox.mailbox_id).values("message_id"),
        )
        .exclude(pk=message.pk)
        .order_by("pk")[:50]
    )
    needle = outbox.message_id.encode()
    for bounce in candidates:
        try:
            raw = rawstore.get(bounce.raw_sha256)
        except Exception:  # noqa: BLE001 - one unreadable bounce must not stop the rest
            logger.warning("bounce %s: raw bytes unreadable", bounce.pk, exc_info=True)
            continue
        if needle in raw:
            Message.objects.filter(pk=bounce.pk).update(bounce_of=message)
            bounce.bounce_of = message
            link_bounce(bounce)
            return


def link_pending_bounces(limit: int = 500) -> int:
    """Link bounces that mail stored without a save() of its own (the set-wise ingest
    writes parsed messages in bulk, so post_save does not fire): run by the job
    runner's housekeeping (recover_outbox). Emails linked."""
    pending = (
        OutboxMessage.objects.filter(
            bounce__isnull=True,
            stored_message__isnull=False,
            stored_message__bounces__kind=Message.Kind.BOUNCE,
        )
        .values_list("stored_message_id", flat=True)
        .distinct()[:limit]
    )
    linked = 0
    for bounced in list(pending):
        bounce = (
            Message.objects.filter(bounce_of_id=bounced, kind=Message.Kind.BOUNCE)
            .order_by("pk")
            .first()
        )
        if bounce is None:
            continue
        try:
            with transaction.atomic():
                linked += link_bounce(bounce)
        except Exception:  # noqa: BLE001 - one bad bounce must not stop the others
            logger.exception("linking bounce %s to its sent email failed", bounce.pk)
    return linked
