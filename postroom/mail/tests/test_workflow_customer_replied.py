"""The responsible person is told when the customer writes again on their conversation."""

import pytest

from postroom.accounts.models import Notification
from postroom.accounts.notify import do_set_preferences
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mail.workflow import do_assign, mail_threaded
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def arrive(folder, uid: int, **fields):
    message = parse_stored(store_copy(folder, 7, FetchedMessage(uid, make_email(**fields))).message)
    conversation = thread_message(message, folder.mailbox)
    mail_threaded([message.pk], folder.mailbox)
    return message, conversation


@pytest.fixture
def inbox():
    return MailboxFactory(address="sales@acme.test").folders.get(name="INBOX")


def test_it_tells_the_responsible_person_once_per_email(inbox):
    alice = UserFactory(username="alice")
    first, conversation = arrive(inbox, 1, sender="anna@client.test", subject="Chairs")
    assert not Notification.objects.exists()  # nobody is responsible yet
    do_assign(conversation, alice, acting_user=alice)
    again, _ = arrive(
        inbox, 2, sender="anna@client.test", subject="Re: Chairs", in_reply_to=first.message_id
    )
    mail_threaded([again.pk], inbox.mailbox)  # a re-run tells nobody twice
    note = Notification.objects.get(user=alice)
    assert note.kind == "customer_replied"
    assert note.url.endswith(f"#message-{again.pk}")


def test_it_follows_the_choice_of_no_in_app_notice(inbox):
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"customer_replied": (False, False)})
    first, conversation = arrive(inbox, 1, sender="anna@client.test", subject="Chairs")
    do_assign(conversation, alice, acting_user=alice)
    arrive(inbox, 2, sender="anna@client.test", subject="Re: Chairs", in_reply_to=first.message_id)
    assert not Notification.objects.exists()


def test_a_colleagues_email_tells_nobody(inbox):
    alice = UserFactory(username="alice")
    UserFactory(username="bob", email="bob@acme.test")
    first, conversation = arrive(inbox, 1, sender="anna@client.test", subject="Chairs")
    do_assign(conversation, alice, acting_user=alice)
    arrive(inbox, 2, sender="bob@acme.test", subject="Re: Chairs", in_reply_to=first.message_id)
    assert not Notification.objects.exists()
