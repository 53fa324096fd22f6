"""Building mail of a given age, bound or not, for retention's tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from postroom.crm.models import Activity, TimelineEntry
from postroom.mail.ingest import FetchedMessage, ingest_messages, store_copies
from postroom.mail.models import ConversationMessage, Message
from postroom.routing.models import SlaClock
from postroom.testing.factories import LeadFactory, TaskFactory

_uids = itertools.count(1)


def email(subject: str, *, attachment: bytes | None = None, body: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@customer.test>"
    msg.set_content(body or f"{subject}: words " * 20)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="a.pdf")
    return msg.as_bytes()


def arrive(mailbox, subject: str, *, days_ago: float = 0, attachment: bytes | None = None,
           raw: bytes | None = None) -> Message:  # fmt: skip
    """An email in the mailbox's INBOX that reached it `days_ago` days ago, ingested."""
    inbox = mailbox.folders.get(name="INBOX")
    when = datetime.now(UTC) - timedelta(days=days_ago)
    fetched = FetchedMessage(
        uid=next(_uids), raw=raw or email(subject, attachment=attachment), internal_date=when
    )
    ids = store_copies(inbox, 1, [fetched])
    if ids:
        ingest_messages(ids, mailbox)
    return Message.objects.get(subject=subject) if not raw else Message.objects.latest("pk")


def bind_to_item(message: Message, item=None):
    """The email on a CRM item's timeline, as capture puts it there."""
    item = item or LeadFactory()
    activity, _ = Activity.objects.get_or_create(
        message=message,
        defaults={
            "kind": "email",
            "direction": "in",
            "subject": message.subject,
            "occurred_at": timezone.now(),
        },  # fmt: skip
    )
    TimelineEntry.objects.create(
        content_type=ContentType.objects.get_for_model(item),
        object_id=item.pk,
        kind=TimelineEntry.Kind.ACTIVITY,
        activity=activity,
        occurred_at=timezone.now(),
    )
    return item


def bind_to_task(message: Message, mailbox, task=None):
    """The email's conversation has a reply deadline with its task, as SLA makes it."""
    task = task or TaskFactory()
    link = ConversationMessage.objects.get(message=message, mailbox=mailbox)
    now = timezone.now()
    SlaClock.objects.create(
        conversation_id=link.conversation_id,
        mailbox=mailbox,
        kind=SlaClock.Kind.FIRST,
        task=task,
        started_at=now,
        due_at=now,
        escalate_at=now,
    )
    return task
