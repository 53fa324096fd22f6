"""A personal mailbox end to end through the real Dovecot: its Inbox and Sent of the last
N days are read; mail with known contacts becomes activities, mail with unknown people
does what the owner chose, and the mail itself stays the owner's alone."""

from datetime import UTC, datetime, timedelta

import pytest

from postroom import jobs
from postroom.crm.actions import items_of
from postroom.crm.models import Activity, Contact, Deal, Lead
from postroom.mail.models import Message
from postroom.mailboxes import personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import ConnectionSettings
from postroom.sync.service import discover_folders, sync_mailbox
from postroom.testing.factories import (
    UserFactory,
    client_with_open_deal,
)
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)

ANNA = "anna@customer.test"
STRANGER = "someone@unknown.test"


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


@pytest.fixture
def anna():
    """A known contact, with her company and an open deal."""
    return client_with_open_deal("Anna Client", ANNA)


def _connect(alice, dovecot, mail_user, *, days: int = 30, unknown: str = "ignore"):
    mailbox = personal.do_add_personal_mailbox(
        alice,
        ConnectionSettings(
            address=mail_user.address,
            name="Alice's mail",
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_security="none",
            username=mail_user.username,
            password=mail_user.password,
        ),
        personal.PersonalSettings(initial_days=days, unknown_people=unknown),
    )
    discover_folders(mailbox)
    return mailbox


def _put(dovecot, mail_user, raw: bytes, folder: str, *, days_ago: int = 1) -> None:
    date = datetime.now(UTC) - timedelta(days=days_ago)
    dovecot.append(mail_user.username, mail_user.password, raw, folder=folder, date=date)


def _sync(mailbox) -> None:
    sync_mailbox(mailbox)
    jobs.drain_embedded_queue()


def test_it_reads_inbox_and_sent_of_the_last_days_and_puts_mail_with_contacts_in_the_crm(
    dovecot, mail_user, alice, anna
):
    me = mail_user.address
    # Older mail came first, as on any server: the window is by date, then by UID.
    _put(dovecot, mail_user, make_email(sender=ANNA, to=me, message_id="<old@c.test>"),
         "INBOX", days_ago=60)  # fmt: skip
    _put(dovecot, mail_user, make_email(sender=ANNA, to=me, message_id="<in@c.test>"), "INBOX")
    _put(dovecot, mail_user, make_email(sender=me, to=ANNA, subject="Offer",
                                        message_id="<out@a.test>"), "Sent")  # fmt: skip
    _put(dovecot, mail_user, make_email(sender=ANNA, to=me, message_id="<draft@c.test>"), "Drafts")
    mailbox = _connect(alice, dovecot, mail_user, days=30)
    _sync(mailbox)

    fetched = set(Message.objects.values_list("message_id", flat=True))
    assert fetched == {"in@c.test", "out@a.test"}, "Inbox and Sent of the last 30 days only"
    incoming = Activity.objects.get(message__message_id="in@c.test")
    outgoing = Activity.objects.get(message__message_id="out@a.test")
    assert (incoming.direction, outgoing.direction) == ("in", "out")
    deal = Deal.objects.get(contact=anna)
    for activity in (incoming, outgoing):
        assert {anna, anna.company, deal} <= set(items_of(activity))


def test_mail_with_unknown_people_stays_private_by_default(dovecot, mail_user, alice, anna):
    me = mail_user.address
    _put(dovecot, mail_user, make_email(sender=STRANGER, to=me, subject="Private"), "INBOX")
    _put(dovecot, mail_user, make_email(sender=me, to=STRANGER, subject="Re: Private"), "Sent")
    mailbox = _connect(alice, dovecot, mail_user)
    _sync(mailbox)

    assert Message.objects.count() == 2
    assert not Activity.objects.exists()
    assert not Lead.objects.exists()
    assert list(Contact.objects.all()) == [anna]
    # Its mail is seen in its owner's mailbox and nowhere else, administrators included.
    admin = UserFactory(is_superuser=True)
    assert mailbox in mailboxes_for(alice)
    assert mailbox not in mailboxes_for(admin)


def test_the_owner_may_have_mail_from_unknown_people_make_leads(dovecot, mail_user, alice):
    me = mail_user.address
    _put(dovecot, mail_user, make_email(sender=f"New Person <{STRANGER}>", to=me), "INBOX")
    mailbox = _connect(alice, dovecot, mail_user, unknown="lead")
    _sync(mailbox)

    lead = Lead.objects.get(email=STRANGER)
    assert lead.responsible == alice, "items from a personal mailbox are its owner's"
    assert Activity.objects.get().direction == "in"


def test_the_owner_may_have_mail_from_unknown_people_make_contacts_and_deals(
    dovecot, mail_user, alice
):
    me = mail_user.address
    _put(dovecot, mail_user, make_email(sender=f"New Person <{STRANGER}>", to=me), "INBOX")
    mailbox = _connect(alice, dovecot, mail_user, unknown="contact")
    _sync(mailbox)

    contact = Contact.objects.get(emails__email=STRANGER)
    deal = Deal.objects.get(contact=contact)
    assert (contact.responsible, deal.responsible) == (alice, alice)
    assert not Lead.objects.exists()
