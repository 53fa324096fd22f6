"""Sending through the API: into the Outbox with its undo window, a reply's defaults,
collision detection, idempotency, and the reply right."""

from __future__ import annotations

import pytest

from postroom.outbound.models import Draft, OutboxMessage
from postroom.testing.mail import ingested, make_email

from .conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def sending(sales, settings):
    sales.smtp_host, sales.smtp_port = "127.0.0.1", 2525
    sales.save(update_fields=["smtp_host", "smtp_port"])
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 30}
    return sales


def test_a_new_email_waits_in_the_outbox_and_can_be_undone(sending, replier):
    api = token_client(replier)
    made = api.post(
        f"/api/v1/mailboxes/{sending.pk}/send",
        {"to": ["anna@customer.test"], "subject": "Offer", "text": "Here it is."},
    )
    assert made.status_code == 202, made.content
    body = made.json()
    assert body["status"] == "queued" and body["can_undo"] is True
    outbox = OutboxMessage.objects.get(pk=body["id"])
    assert outbox.author == replier and outbox.recipients == ["anna@customer.test"]
    undone = api.post(f"/api/v1/outbox/{outbox.pk}/undo")
    assert undone.status_code == 200
    assert Draft.objects.get(pk=undone.json()["draft_id"]).subject == "Offer"
    assert not OutboxMessage.objects.filter(pk=outbox.pk).exists()


def test_the_same_idempotency_key_queues_one_email(sending, replier):
    api = token_client(replier)
    email = {"to": ["anna@customer.test"], "subject": "Once", "idempotency_key": "k-1"}
    first = api.post(f"/api/v1/mailboxes/{sending.pk}/send", email).json()
    second = api.post(f"/api/v1/mailboxes/{sending.pk}/send", email).json()
    assert first["id"] == second["id"]
    assert OutboxMessage.objects.count() == 1


def test_reading_a_mailbox_is_not_enough_to_send_from_it(sending, reader):
    response = token_client(reader).post(
        f"/api/v1/mailboxes/{sending.pk}/send", {"to": ["anna@customer.test"]}
    )
    assert response.status_code == 403
    assert "reply right" in response.json()["message"]


def test_a_reply_answers_the_customer_in_the_thread(sending, replier):
    message = ingested(sending, make_email(subject="Price request"))
    conversation = message.conversationmessage_set.get().conversation
    response = token_client(replier).post(
        f"/api/v1/conversations/{conversation.pk}/reply", {"text": "It costs 10."}
    )
    assert response.status_code == 202, response.content
    outbox = OutboxMessage.objects.get(pk=response.json()["id"])
    assert outbox.recipients == ["anna@customer.test"]
    assert outbox.subject == "Re: Price request"
    assert outbox.parent == message and outbox.conversation == conversation


def test_a_reply_over_a_newer_customer_email_is_a_409(sending, replier):
    first = ingested(sending, make_email(subject="Q", message_id="<q1@customer.test>"))
    ingested(
        sending,
        make_email(
            subject="Re: Q", message_id="<q2@customer.test>", in_reply_to="<q1@customer.test>"
        ),
    )
    conversation = first.conversationmessage_set.get().conversation
    response = token_client(replier).post(
        f"/api/v1/conversations/{conversation.pk}/reply",
        {"text": "Answer", "seen_message_id": first.pk},
    )
    assert response.status_code == 409
    assert response.json()["code"] == "newer_email"
    assert not OutboxMessage.objects.exists()
