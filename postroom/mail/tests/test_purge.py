"""Purging emails no mailbox holds: the email, its attachments, its search entry and the
rows of bytes nothing else shares go; an email still held, or kept by the caller, stays."""

from email.message import EmailMessage

import pytest
from django.db import connection

from postroom.mail import search as search_module
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Attachment, AttachmentBlob, Message, MessageCopy, RawMessage
from postroom.mail.purge import purge_messages
from postroom.testing.factories import MailboxFactory

pytestmark = pytest.mark.django_db

CONTRACT = b"%PDF-1.4 the signed contract"


def _email(subject: str, attachment: bytes | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = "alice@home.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{subject.replace(' ', '.')}@customer.test>"
    msg.set_content(f"{subject}: private words")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="pdf", filename="c.pdf")
    return msg.as_bytes()


@pytest.fixture
def arrive():
    uids = iter(range(1, 1000))

    def arrive(mailbox, subject: str, attachment: bytes | None = None) -> Message:
        inbox = mailbox.folders.get(name="INBOX")
        fetched = FetchedMessage(uid=next(uids), raw=_email(subject, attachment))
        message = parse_stored(store_copy(inbox, 1, fetched).message)
        search_module.index_message(message)  # as the ingest job does
        return message

    return arrive


def _index_size() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {search_module.INDEX_TABLE}")  # noqa: S608
        return cursor.fetchone()[0]


def _forget(mailbox) -> list[int]:
    """What disconnecting does first: the mailbox's copies go; the ids of their emails."""
    ids = list(MessageCopy.objects.filter(mailbox=mailbox).values_list("message_id", flat=True))
    MessageCopy.objects.filter(mailbox=mailbox).delete()
    return ids


def test_an_email_no_mailbox_holds_goes_with_its_bytes_attachment_and_index_entry(arrive):
    private = MailboxFactory()
    message = arrive(private, "Doctor appointment", attachment=CONTRACT)
    assert _index_size() == 1 and Attachment.objects.count() == 1

    purged = purge_messages(_forget(private))

    assert (purged.messages, purged.raw, purged.attachment_blobs) == (1, 1, 1)
    assert not Message.objects.filter(pk=message.pk).exists()
    assert not RawMessage.objects.exists()
    assert not Attachment.objects.exists() and not AttachmentBlob.objects.exists()
    assert _index_size() == 0


def test_an_email_another_mailbox_holds_stays(arrive):
    private, shared = MailboxFactory(), MailboxFactory()
    arrive(private, "Quote for chairs")
    message = arrive(shared, "Quote for chairs")  # the same email: one Message, two copies

    purge_messages(_forget(private))

    assert Message.objects.filter(pk=message.pk).exists()
    assert RawMessage.objects.count() == 1 and _index_size() == 1


def test_what_the_caller_keeps_stays(arrive):
    private = MailboxFactory()
    on_a_timeline = arrive(private, "Order 42")
    gone = arrive(private, "Birthday party")

    purged = purge_messages(_forget(private), keep={on_a_timeline.pk})

    assert purged.messages == 1
    assert set(Message.objects.values_list("pk", flat=True)) == {on_a_timeline.pk}
    assert not Message.objects.filter(pk=gone.pk).exists()


def test_an_attachment_another_email_carries_keeps_its_bytes(arrive):
    private, shared = MailboxFactory(), MailboxFactory()
    arrive(private, "Contract for Alice", attachment=CONTRACT)
    kept = arrive(shared, "Contract for Sales", attachment=CONTRACT)

    purge_messages(_forget(private))

    assert AttachmentBlob.objects.count() == 1
    assert Attachment.objects.get().message == kept


def test_purging_twice_or_unknown_ids_changes_nothing(arrive):
    private = MailboxFactory()
    ids = _forget(private) + [arrive(private, "x").pk]
    MessageCopy.objects.all().delete()
    assert purge_messages(ids).messages == 1

    again = purge_messages([*ids, 987_654])

    assert (again.messages, again.raw, again.attachment_blobs) == (0, 0, 0)


def test_a_big_mailbox_is_purged_in_steps(arrive, monkeypatch):
    monkeypatch.setattr("postroom.mail.purge.CHUNK", 2)
    private = MailboxFactory()
    for n in range(5):
        arrive(private, f"Note {n}")

    assert purge_messages(_forget(private)).messages == 5
    assert not Message.objects.exists() and not RawMessage.objects.exists()
