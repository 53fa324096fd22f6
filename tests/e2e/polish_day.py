"""A morning's mail for the polish tests (issue 19, points 9-11): a shared mailbox whose
CRM rule makes leads, a few customers writing in at different times, one of them
converted to a contact and a deal, and an administrator, Alice Smith."""

from dataclasses import dataclass
from datetime import UTC, timedelta

from django.utils import timezone

from postroom.accounts.actions import do_notify
from postroom.crm.actions import do_convert_lead
from postroom.crm.capture import capture_message
from postroom.crm.models import Lead
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Conversation
from postroom.mail.threads import thread_message
from postroom.mail.workflow import do_assign
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

CUSTOMERS = [
    ("Anna Client <anna@customer.test>", "Quote for 40 chairs", 5),
    (
        "Ben Buyer <ben.buyer@bigretail-international.test>",
        "Delivery dates for the spring collection and a very long subject line that goes on",
        47,
    ),
    ("Carla Cruz <carla@example.test>", "Invoice 2026-114", 60 * 5),
    ("Dmitri <dmitri@shop.test>", "Re: samples", 60 * 26),
    ("Eve Early <eve@early.test>", "Opening hours", 60 * 24 * 4),
]


@dataclass
class Day:
    alice: object
    sales: object
    conversation: Conversation
    converted: Lead
    contact: object


def a_morning_of_mail() -> Day:
    sales = MailboxFactory(name="Sales", address="sales@acme.test", crm_rule="lead")
    alice = UserFactory(
        username="alice", first_name="Alice", last_name="Smith", is_superuser=True,
        is_staff=True,
    )  # fmt: skip
    do_grant_mailbox(sales, alice, MailboxGrant.Level.MANAGE)
    inbox = sales.folders.get(name="INBOX")
    now = timezone.now()
    first = None
    for uid, (sender, subject, minutes) in enumerate(CUSTOMERS, start=1):
        sent = (now - timedelta(minutes=minutes)).astimezone(UTC).replace(microsecond=0)
        raw = make_email(
            sender=sender, subject=subject, date=sent,
            body="Hello,\n\nwe would like to know more about your offer.\n\nBest regards",
        )  # fmt: skip
        message = parse_stored(store_copy(inbox, 1, FetchedMessage(uid, raw)).message)
        message.received_at = sent + timedelta(seconds=3)
        message.save(update_fields=["received_at"])
        conversation = thread_message(message, sales)
        capture_message(message, sales)
        if uid % 2:  # Alice's: her inbox ("Mine") has rows
            do_assign(conversation, alice, acting_user=alice)
        first = first or conversation
    lead = Lead.objects.get(email="carla@example.test")
    contact, _, _ = do_convert_lead(lead, alice)
    do_notify([alice], "Bob Seller assigned you “Quote for 40 chairs”", kind="assigned")
    do_notify([alice], "A reply deadline is near on “Invoice 2026-114”", kind="deadline_soon")
    return Day(alice=alice, sales=sales, conversation=first, converted=lead, contact=contact)
