"""A reply and the workflow: collision detection when the customer wrote again, and the
reply history (who, when, from where, after how long) on the conversation and the CRM."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.crm import actions as crm_actions
from postroom.crm.models import Activity
from postroom.mail.models import Conversation, ConversationMessage
from postroom.mail.workflow import do_mark_replying, replies, replying_now
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import DealFactory, UserFactory

from .conftest import receive, run_jobs


def _form(page) -> dict:
    initial = page.context["form"].initial
    form = {name: initial.get(name, "") for name in ("to", "cc", "subject", "token")}
    return {**form, "body_html": "<div>It is 4,000 €.</div>", "seen": page.context["seen"]}


@pytest.mark.django_db
def test_sending_after_a_newer_customer_email_asks_for_confirmation(client, mailbox):
    alice = UserFactory(first_name="Alice", last_name="Smith")
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    client.force_login(alice)
    asked = receive(mailbox, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=asked).conversation
    url = reverse("web:reply", args=[conversation.pk])
    form = _form(client.get(url))
    assert form["seen"] == asked.pk
    receive(mailbox, subject="Re: Chairs", in_reply_to="<ask@customer.test>", body="Or 50?")

    refused = client.post(url, form)
    assert refused.status_code == 200 and not OutboxMessage.objects.exists()
    assert "wrote again" in refused.content.decode()
    # The page now carries the newer email as seen: Send again is the confirmation.
    confirmed = client.post(url, {**form, "seen": refused.context["seen"]})
    assert confirmed.status_code == 302 and OutboxMessage.objects.count() == 1


@pytest.mark.django_db
def test_our_own_later_email_is_no_collision(client, mailbox):
    alice = UserFactory()
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    client.force_login(alice)
    asked = receive(mailbox, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=asked).conversation
    url = reverse("web:reply", args=[conversation.pk])
    form = _form(client.get(url))
    receive(mailbox, sender="Sales <sales@acme.test>", subject="Re: Chairs",
            in_reply_to="<ask@customer.test>", to="anna@customer.test")  # fmt: skip
    assert client.post(url, form).status_code == 302


@pytest.mark.django_db
def test_sending_ends_the_writers_presence(client, mailbox):
    alice = UserFactory()
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    client.force_login(alice)
    asked = receive(mailbox, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=asked).conversation
    url = reverse("web:reply", args=[conversation.pk])
    form = _form(client.get(url))
    do_mark_replying(conversation, alice)
    client.post(url, form)
    assert replying_now(conversation) == []


@pytest.mark.django_db(transaction=True)
def test_a_sent_reply_is_in_the_history_and_on_the_crm_timeline(client, sales, alice):
    asked = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=asked).conversation
    two_hours_ago = timezone.now() - timedelta(hours=2)
    Conversation.objects.filter(pk=conversation.pk).update(waiting_since=two_hours_ago)
    deal = DealFactory(title="40 chairs", responsible=alice)
    crm_actions.do_bind_activity(Activity.objects.get(message=asked), deal)

    client.force_login(alice)
    url = reverse("web:reply", args=[conversation.pk])
    client.post(url, _form(client.get(url)))
    run_jobs()

    (event,) = replies(conversation)
    assert event.actor == alice and event.detail["from"] == sales.address
    assert 2 * 3600 <= event.detail["waited_seconds"] < 3 * 3600
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.PENDING
    assert conversation.waiting_since is None
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    assert "Replies" in page and sales.address in page and "2 h" in page
    timeline = client.get(deal.get_absolute_url()).content.decode()
    assert "Outgoing email by Alice Smith, the customer had waited 2 h" in timeline
