import pytest

from postroom.crm.capture import capture_message
from postroom.crm.models import Activity, Lead
from postroom.crm.timeline import timeline_of
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(crm_rule="lead")


def _arrive(mailbox, raw, uid):
    folder = mailbox.folders.get(name="INBOX")
    return parse_stored(store_copy(folder, 1, FetchedMessage(uid=uid, raw=raw)).message)


def test_it_creates_a_lead_from_a_new_sender(mailbox):
    message = _arrive(mailbox, make_email(sender="Anna <anna@customer.test>"), 1)
    result = capture_message(message, mailbox)
    lead = Lead.objects.get()
    assert result.created == [lead]
    assert (lead.email, lead.name, lead.title) == ("anna@customer.test", "Anna", "Price request")
    assert [e.activity.message for e in timeline_of(lead) if e.activity] == [message]


def test_it_puts_a_second_email_from_the_same_sender_on_the_same_lead(mailbox):
    capture_message(_arrive(mailbox, make_email(), 1), mailbox)
    second = _arrive(mailbox, make_email(subject="One more question"), 2)
    result = capture_message(second, mailbox)
    lead = Lead.objects.get()
    assert result.bound == [lead]
    assert Activity.objects.filter(entries__object_id=lead.pk).count() == 2


def test_it_does_nothing_the_second_time(mailbox):
    message = _arrive(mailbox, make_email(), 1)
    capture_message(message, mailbox)
    capture_message(message, mailbox)
    assert Lead.objects.count() == 1
    assert Activity.objects.count() == 1


def test_it_ignores_mail_from_a_postroom_user(mailbox):
    UserFactory(email="bob@acme.test")
    result = capture_message(_arrive(mailbox, make_email(sender="Bob <Bob@acme.test>"), 1), mailbox)
    assert result.skipped.startswith("sent by the organisation")
    assert not Lead.objects.exists()


def test_it_creates_nothing_when_the_rule_is_none():
    mailbox = MailboxFactory(crm_rule="none")
    result = capture_message(_arrive(mailbox, make_email(), 1), mailbox)
    assert result.skipped and not Lead.objects.exists()


def test_it_skips_a_quarantined_message(mailbox):
    message = _arrive(mailbox, b"\x00 not mail", 1)
    assert capture_message(message, mailbox).skipped == "message is quarantined"
