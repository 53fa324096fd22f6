"""Reply deadlines end to end: a customer's email delivered to a real Dovecot and synced
gets its deadline task on its lead, the sweep breaches it and tells the responsible
person, and the reply sent through a real SMTP server completes the task."""

from datetime import UTC, datetime, timedelta

import pytest

from postroom import jobs
from postroom.accounts.models import Notification
from postroom.crm.models import Lead
from postroom.mail.models import Conversation, ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.actions import Composition, do_send_email, draft_for
from postroom.outbound.models import OutboxMessage
from postroom.routing import sla
from postroom.routing.actions import do_add_rule
from postroom.routing.models import SlaClock
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def test_a_synced_email_gets_its_task_on_the_lead_is_breached_and_the_reply_completes_it(
    dovecot, dovecot_mailbox, smtp_server
):
    sales = dovecot_mailbox
    sales.smtp_host, sales.smtp_port, sales.smtp_security = (
        smtp_server.host, smtp_server.port, "none",
    )  # fmt: skip
    sales.save()
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    do_add_rule(sales, kind="round-robin", queue_users=[alice])
    sla.do_set_policy(sales, first_reply_minutes=30, next_reply_minutes=120)
    asked = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=45)
    dovecot.deliver(
        make_email(sender="Anna Client <anna@customer.test>", to=sales.address,
                   subject="Quote for 40 chairs", date=asked),
        to=sales.address,
    )  # fmt: skip
    sync_mailbox(sales)
    jobs.drain_embedded_queue()

    conversation = Conversation.objects.get()
    clock = SlaClock.objects.get()
    lead = Lead.objects.get()
    assert clock.task.item == lead and clock.task.responsible == alice
    assert clock.due_at == asked + timedelta(minutes=30) == conversation.reply_due_at
    assert clock.task.title.startswith("Reply to the client within 30 minutes")

    assert sla.sweep()["breached"] == 1
    (told,) = Notification.objects.filter(user=alice, kind="deadline_breached")
    assert "Quote for 40 chairs" in told.text

    parent = ConversationMessage.objects.get(conversation=conversation).message
    draft = draft_for(OutboxMessage.Kind.REPLY, sales, alice, parent)
    do_send_email(
        sales, Composition(to=draft.to, subject=draft.subject, body="4,000 €." + draft.body),
        acting_user=alice, kind=OutboxMessage.Kind.REPLY, parent=parent,
        conversation=conversation, undo_seconds=0,
    )  # fmt: skip
    jobs.drain_embedded_queue()
    smtp_server.wait_for(1)
    clock.refresh_from_db()
    assert clock.outcome == "answered" and clock.hit is False  # answered, but late
    clock.task.refresh_from_db()
    assert clock.task.done_at is not None
    conversation.refresh_from_db()
    assert conversation.reply_due_at is None
