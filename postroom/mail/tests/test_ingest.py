import pytest

from postroom.mail import rawstore
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message, MessageCopy
from postroom.mail.threads import thread_message
from postroom.mailboxes.models import Folder
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox() -> Folder:
    return MailboxFactory().folders.get(name="INBOX")


def test_it_stores_the_raw_bytes_before_parsing(inbox):
    raw = make_email(subject="Hello")
    copy = store_copy(inbox, 7, FetchedMessage(uid=1, raw=raw))
    assert copy.message.status == Message.Status.RECEIVED
    assert rawstore.get(copy.message.raw_sha256) == raw


def test_it_skips_a_uid_it_already_has(inbox):
    raw = make_email()
    assert store_copy(inbox, 7, FetchedMessage(uid=1, raw=raw)) is not None
    assert store_copy(inbox, 7, FetchedMessage(uid=1, raw=raw)) is None
    assert MessageCopy.objects.count() == 1


def test_it_stores_one_message_seen_by_two_mailboxes(inbox):
    raw = make_email()
    other = MailboxFactory().folders.get(name="INBOX")
    store_copy(inbox, 7, FetchedMessage(uid=1, raw=raw))
    store_copy(other, 9, FetchedMessage(uid=4, raw=raw))
    assert Message.objects.count() == 1
    assert MessageCopy.objects.count() == 2


def test_it_quarantines_an_unparseable_message_with_its_raw_bytes(inbox):
    raw = b"\x00\x01 garbage \xff"
    message = parse_stored(store_copy(inbox, 7, FetchedMessage(uid=1, raw=raw)).message)
    assert message.status == Message.Status.QUARANTINED
    assert "not an email" in message.error
    assert rawstore.get(message.raw_sha256) == raw


def test_it_threads_a_reply_into_the_same_conversation(inbox):
    first = parse_stored(
        store_copy(inbox, 7, FetchedMessage(1, make_email(message_id="<q1@c.test>"))).message
    )
    reply = parse_stored(
        store_copy(
            inbox,
            7,
            FetchedMessage(2, make_email(subject="Re: Price request", in_reply_to="<q1@c.test>")),
        ).message
    )
    conversation = thread_message(first, inbox.mailbox)
    assert thread_message(reply, inbox.mailbox) == conversation
    assert thread_message(reply, inbox.mailbox) == conversation  # idempotent
    conversation.refresh_from_db()
    assert conversation.message_count == 2


def test_it_threads_by_subject_only_between_the_same_correspondents(inbox):
    to = inbox.mailbox.address

    def arrive(uid: int, **fields):
        raw = make_email(to=to, **fields)
        return parse_stored(store_copy(inbox, 7, FetchedMessage(uid, raw)).message)

    a = arrive(1, subject="Offer")
    b = arrive(2, subject="RE: Offer")
    stranger = arrive(3, sender="x@other.test", subject="Offer")
    conversation = thread_message(a, inbox.mailbox)
    assert thread_message(b, inbox.mailbox) == conversation
    assert thread_message(stranger, inbox.mailbox) != conversation
