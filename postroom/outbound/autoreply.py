"""Writing a mailbox's auto-replies into the Outbox, in the capture's transaction.

routing.autoreply decides who gets one; this renders the template (the placeholders of
reply templates) and writes the email with its delivery job: From the mailbox's
address, In-Reply-To and References of the answered email, `Auto-Submitted:
auto-replied` (RFC 3834), `X-Loop` naming the mailbox and Postroom's own header, so that
no Postroom and no well-behaved responder answers it. The Outbox row's idempotency key is
the answered email's: a re-run writes nothing twice. A broken template, or a mailbox
with no SMTP server, never blocks mail: the auto-reply is skipped, logged, and the
conversation's history says why.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from postroom.routing.autoreply import LOOP_HEADER, Due, record_sent, record_skip

from . import compose, placeholders
from .models import OutboxMessage

logger = logging.getLogger(__name__)


class TemplateError(ValueError):
    """The auto-reply's template cannot be rendered; the message says why."""


def check_template(subject: str, body: str) -> None:
    """Refuse a template with unknown placeholders or no text (the settings form)."""
    if not (body or "").strip():
        raise TemplateError("the auto-reply needs a text")
    try:
        placeholders.check(subject or "")
        placeholders.check(body)
    except placeholders.PlaceholderError as exc:
        raise TemplateError(str(exc)) from None


def render(due: Due) -> tuple[str, str]:
    """(subject, text) of the auto-reply for this email; raises TemplateError."""
    settings = due.settings
    check_template(settings.subject, settings.body)
    values = placeholders.values_for(settings.mailbox, due.conversation, user=None, everything=True)
    if not values.get("responsible_name") and due.conversation is not None:
        responsible = getattr(due.conversation, "responsible", None)
        if responsible is not None:
            values["responsible_name"] = responsible.get_full_name() or responsible.username
    try:
        subject = placeholders.render(settings.subject or "", values, is_html=False)
        body = placeholders.render(settings.body, values, is_html=False)
    except Exception as exc:  # noqa: BLE001 - whatever breaks, mail must go on
        raise TemplateError(f"{exc}") from None
    subject = " ".join(subject.split()) or compose.reply_subject(due.message.subject)
    return subject, body


def queue(due: list[Due]) -> int:
    """Write each due auto-reply into the Outbox with its job (or record why not);
    returns how many were queued. Runs in the caller's transaction."""
    queued = 0
    for item in due:
        try:
            with transaction.atomic():
                queued += _queue_one(item)
        except Exception as exc:  # noqa: BLE001 - one auto-reply never blocks the mail
            logger.exception("auto-reply to message %s failed", item.message.pk)
            record_skip(
                item.settings.mailbox,
                item.message,
                item.conversation,
                item.sender,
                f"could not be written: {exc!r}",
            )
    return queued


def _queue_one(due: Due) -> int:
    mailbox = due.settings.mailbox
    message = due.message
    if not (mailbox.smtp_host and mailbox.smtp_port):
        record_skip(
            mailbox, message, due.conversation, due.sender, "the mailbox has no SMTP server"
        )
        return 0
    try:
        subject, text = render(due)
    except TemplateError as exc:
        logger.warning("auto-reply of %s skipped: its template is broken: %s", mailbox, exc)
        record_skip(
            mailbox, message, due.conversation, due.sender, f"the template is broken: {exc}"
        )
        return 0
    key = f"auto-reply:{mailbox.pk}:{message.pk}"
    if OutboxMessage.objects.filter(idempotency_key=key).exists():
        return 0
    references = compose.references_for(
        compose.Original(
            message_id=message.message_id,
            references=list(message.references or []),
            subject=message.subject,
            from_name=message.from_name,
            from_address=message.from_address,
            reply_to=(),
            to=(),
            cc=(),
            date=None,
            text="",
        )
    )
    message_id = compose.new_message_id(mailbox.address)
    raw = compose.build_email(
        from_name=mailbox.name,
        from_address=mailbox.address,
        to=[due.sender],
        subject=subject,
        body=text,
        message_id=message_id,
        date=timezone.now(),
        in_reply_to=message.message_id,
        references=references,
        headers=[
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            ("Precedence", "auto_reply"),
            ("X-Loop", mailbox.address),
            (LOOP_HEADER, mailbox.address),
        ],
    )
    try:
        with transaction.atomic():
            outbox = OutboxMessage.objects.create(
                mailbox=mailbox,
                author=None,
                kind=OutboxMessage.Kind.AUTO_REPLY,
                conversation=due.conversation,
                parent=message,
                message_id=message_id,
                subject=subject,
                # RFC 3834 3.3: an auto-reply's envelope sender is empty, so that a
                # bounce of it never comes back to be answered.
                sender="",
                recipients=[due.sender],
                raw=raw,
                idempotency_key=key,
            )
    except IntegrityError:
        return 0  # another runner wrote it a moment ago
    record_sent(due, outbox.pk)
    from .jobs import deliver_outbox  # jobs -> delivery -> sync -> the pipeline -> here

    # The database queue writes the job in this transaction; Celery sends it on commit.
    deliver_outbox.enqueue(outbox.pk)
    return 1


# ------------------------------------------------------------------- settings


class AutoReplyError(ValueError):
    """The auto-reply cannot be set as asked; the message says why."""


def do_configure_auto_reply(
    mailbox,
    *,
    when: str,
    body: str,
    subject: str = "",
    calendar=None,
    period_days: int = 4,
    acting_user=None,
):
    """Set a mailbox's auto-reply (the settings page and `postroom autoreply` call this):
    refused with the reason when it needs a calendar it lacks, a calendar without working
    hours, a period under a day, or a template with no text or unknown placeholders."""
    from postroom.routing.autoreply_models import AutoReply

    if when not in AutoReply.When.values:
        raise AutoReplyError(f"unknown setting {when!r}; choose one of {AutoReply.When.values}")
    if when in (AutoReply.When.OUTSIDE_HOURS, AutoReply.When.HOLIDAYS) and calendar is None:
        raise AutoReplyError("choose the business-hours calendar it follows")
    if when == AutoReply.When.OUTSIDE_HOURS and not calendar.intervals:
        raise AutoReplyError(
            f"the calendar {calendar.name!r} has no working hours: choose “Always” instead"
        )
    if when == AutoReply.When.HOLIDAYS and not calendar.holidays:
        raise AutoReplyError(f"the calendar {calendar.name!r} has no holidays")
    if period_days < 1:
        raise AutoReplyError("answer a sender at most once in at least 1 day")
    if when != AutoReply.When.OFF or (body or "").strip():
        try:
            check_template(subject, body)
        except TemplateError as exc:
            raise AutoReplyError(str(exc)) from None
    if when != AutoReply.When.OFF and not (mailbox.smtp_host and mailbox.smtp_port):
        raise AutoReplyError(f"{mailbox.address} has no SMTP server set up to send from")
    reply, _ = AutoReply.objects.update_or_create(
        mailbox=mailbox,
        defaults={
            "when": when,
            "calendar": calendar,
            "subject": " ".join((subject or "").split()),
            "body": body or "",
            "period_days": period_days,
            "updated_by": acting_user,
        },
    )
    logger.info(
        "auto-reply of %s set to %s by %s",
        mailbox.address,
        when,
        acting_user.pk if acting_user else "the shell",
    )
    return reply
