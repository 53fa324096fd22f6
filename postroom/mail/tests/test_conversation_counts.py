"""A conversation counts the emails its mailbox holds; the list shows those with any."""

import importlib

import pytest
from django.apps import apps

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Conversation, MessageCopy, listed_conversations
from postroom.mail.threads import copies_removed, thread_message
from postroom.mailboxes.models import Folder
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox() -> Folder:
    return MailboxFactory().folders.get(name="INBOX")


def arrive(folder: Folder, uid: int, **fields) -> Conversation:
    message = parse_stored(store_copy(folder, 7, FetchedMessage(uid, make_email(**fields))).message)
    return thread_message(message, folder.mailbox)


def _question_and_answer(inbox: Folder) -> Conversation:
    arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    return arrive(inbox, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>")


def _counts(inbox: Folder) -> list[int]:
    return [c.message_count for c in listed_conversations(inbox.mailbox)]


def test_an_email_gone_from_the_mailbox_no_longer_counts(inbox):
    _question_and_answer(inbox)
    gone = MessageCopy.objects.filter(uid=2)
    ids = list(gone.values_list("message_id", flat=True))
    gone.delete()
    copies_removed(inbox.mailbox_id, ids)
    assert _counts(inbox) == [1]


def test_a_conversation_whose_emails_are_all_gone_leaves_the_list_and_comes_back(inbox):
    conversation = _question_and_answer(inbox)
    ids = list(MessageCopy.objects.values_list("message_id", flat=True))
    MessageCopy.objects.all().delete()
    copies_removed(inbox.mailbox_id, ids)
    assert _counts(inbox) == []
    assert arrive(inbox, 3, message_id="<q@customer.test>", subject="Chairs") == conversation
    assert _counts(inbox) == [1]


def test_the_migration_recounts_what_each_mailbox_holds(inbox):
    conversation = _question_and_answer(inbox)
    MessageCopy.objects.filter(uid=2).delete()  # as a sync did before counts followed
    migration = importlib.import_module("postroom.mail.migrations.0008_count_held_emails")
    migration.count_held(apps, None)
    conversation.refresh_from_db()
    assert conversation.message_count == 1
