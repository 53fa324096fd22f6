"""Each sent email is an Activity on the CRM items of its conversation, deal included,
with placeholders taken from that deal."""

import pytest
from django.urls import reverse

from postroom.crm import actions as crm_actions
from postroom.crm.models import Activity
from postroom.mail.models import ConversationMessage
from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import DealFactory, UserFactory

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_reply_lands_on_the_deal_of_its_conversation(client, sales, alice, smtp_server):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    deal = DealFactory(title="40 chairs for ACME", responsible=alice)
    crm_actions.do_bind_activity(Activity.objects.get(message=parent), deal)

    client.force_login(alice)
    url = reverse("web:reply", args=[conversation.pk])
    page = client.get(url)
    assert dict(page.context["placeholders"])["{deal_title}"] == "40 chairs for ACME"
    form = {
        "to": "anna@customer.test",
        "subject": "Re: {deal_title}",
        "body_html": "<div>Offer attached.</div>",
        "token": page.context["form"].initial["token"],
    }
    client.post(url, form)
    run_jobs()

    outbox = OutboxMessage.objects.get()
    assert outbox.subject == "Re: 40 chairs for ACME"
    activity = Activity.objects.get(message=outbox.stored_message)
    assert activity.direction == "out" and activity.responsible == alice
    on = {(entry.content_type.model, entry.object_id) for entry in activity.entries.all()}
    assert ("deal", deal.pk) in on
    assert "Outgoing email by Alice Smith" in client.get(deal.get_absolute_url()).text
    assert len(smtp_server.messages) == 1


def test_placeholders_never_show_an_item_the_sender_may_not_read(client, sales, alice):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    deal = DealFactory(title="Bob's secret discount", responsible=UserFactory())
    crm_actions.do_bind_activity(Activity.objects.get(message=parent), deal)

    client.force_login(alice)
    page = client.get(reverse("web:reply", args=[conversation.pk]))
    assert dict(page.context["placeholders"])["{deal_title}"] == ""
