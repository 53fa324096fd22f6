"""The ingest job's set-wise path: one batch parsed, threaded and indexed together."""

import pytest

from postroom.mail.ingest import FetchedMessage, ingest_messages, store_copies
from postroom.mail.models import Conversation, ConversationMessage, Message
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def test_one_bad_message_does_not_stop_its_batch_and_a_reply_joins_its_parent():
    mailbox = MailboxFactory()
    batch = [
        FetchedMessage(1, make_email(message_id="<q1@c.test>", subject="Price request")),
        FetchedMessage(2, b"\x00\x01 not an email at all"),
        FetchedMessage(
            3, make_email(subject="Re: Price request", in_reply_to="<q1@c.test>", body="Zebra")
        ),
    ]
    ids = store_copies(mailbox.folders.get(name="INBOX"), 7, batch)

    messages = ingest_messages(ids, mailbox)

    statuses = [m.status for m in messages]
    assert statuses == [Message.Status.PARSED, Message.Status.QUARANTINED, Message.Status.PARSED]
    first, broken, reply = messages
    conversation_of = dict(ConversationMessage.objects.values_list("message_id", "conversation_id"))
    assert conversation_of[first.pk] == conversation_of[reply.pk] != conversation_of[broken.pk]
    assert Conversation.objects.get(pk=conversation_of[first.pk]).message_count == 2
    assert Message.objects.get(pk=first.pk).content_hash  # filled in for later comparisons


def test_ingesting_a_batch_again_changes_nothing():
    mailbox = MailboxFactory()
    ids = store_copies(
        mailbox.folders.get(name="INBOX"),
        7,
        [FetchedMessage(uid, make_email(subject=f"Order {uid} zebra")) for uid in (1, 2)],
    )
    ingest_messages(ids, mailbox)
    ingest_messages(ids, mailbox)
    assert ConversationMessage.objects.count() == 2
    assert sorted(Conversation.objects.values_list("message_count", flat=True)) == [1, 1]
    assert Message.objects.filter(status=Message.Status.PARSED).count() == 2
