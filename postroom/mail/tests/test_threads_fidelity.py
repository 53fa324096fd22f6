"""Threading beyond References: Outlook's Thread-Index and subjects with [ticket] tags."""

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.models import Folder
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox() -> Folder:
    return MailboxFactory().folders.get(name="INBOX")


def arrive(folder: Folder, uid: int, **fields):
    message = parse_stored(store_copy(folder, 7, FetchedMessage(uid, make_email(**fields))).message)
    return thread_message(message, folder.mailbox)


def thread_index(root: bytes, replies: int = 0) -> str:
    return base64.b64encode(root + os.urandom(5) * replies).decode()


def test_it_threads_outlook_mail_by_thread_index(inbox):
    root = os.urandom(22)
    first = arrive(
        inbox, 1, subject="Quarterly figures", headers={"Thread-Index": thread_index(root)}
    )
    # A reply whose References were lost and whose subject was changed by hand.
    reply = arrive(
        inbox,
        2,
        sender="Bob <bob@elsewhere.test>",
        subject="Numbers look good",
        headers={"Thread-Index": thread_index(root, replies=1)},
    )
    other = arrive(
        inbox,
        3,
        subject="Quarterly figures?",
        headers={"Thread-Index": thread_index(os.urandom(22))},
    )
    assert reply == first
    assert other != first


def test_it_threads_by_subject_without_ticket_tags(inbox):
    to = inbox.mailbox.address
    first = arrive(inbox, 1, to=to, subject="Printer broken")
    tagged = arrive(inbox, 2, to=to, subject="[Ticket#4711] Re: Printer broken")
    retagged = arrive(inbox, 3, to=to, subject="AW: [Ticket#4711] RE: Printer broken")
    assert first == tagged == retagged
    first.refresh_from_db()
    assert first.message_count == 3


def test_it_does_not_thread_by_subject_outside_the_window(inbox):
    to = inbox.mailbox.address
    old = datetime.now(UTC) - timedelta(days=90)
    first = arrive(inbox, 1, to=to, subject="Printer broken", date=old)
    later = arrive(inbox, 2, to=to, subject="Re: Printer broken")
    assert later != first
