"""The compose, reply and Outbox pages (postroom/web/compose_views.py)."""

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mail.models import ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import MailboxFactory, UserFactory

from .conftest import receive

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


@pytest.fixture
def parent(mailbox):
    return receive(mailbox, message_id="<ask@customer.test>", subject="Quote for 40 chairs")


@pytest.fixture
def conversation(parent):
    return ConversationMessage.objects.get(message=parent).conversation


def _user(client, mailbox, level):
    user = UserFactory(first_name="Alice", last_name="Smith")
    do_grant_mailbox(mailbox, user, level)
    client.force_login(user)
    return user


@pytest.fixture
def alice(client, mailbox):
    return _user(client, mailbox, MailboxGrant.Level.REPLY)


def _form(response) -> dict:
    initial = response.context["form"].initial
    return {name: initial.get(name, "") for name in ("to", "cc", "subject", "body_html", "token")}


def test_the_reply_form_is_filled_in(client, alice, conversation):
    response = client.get(reverse("web:reply", args=[conversation.pk]))
    assert response.status_code == 200
    form = _form(response)
    assert form["to"] == "Anna Client <anna@customer.test>"
    assert form["subject"] == "Re: Quote for 40 chairs"
    assert "Anna Client wrote:</div><blockquote>Hello, what does it cost?" in form["body_html"]
    assert b"Alice Smith at Sales &lt;sales@acme.test&gt;" in response.content


def test_sending_a_reply_queues_it_and_shows_it_on_the_conversation(
    client, alice, conversation, parent
):
    page = client.get(reverse("web:reply", args=[conversation.pk]))
    form = {**_form(page), "body_html": "<div>It is 4,000 €.</div>"}
    response = client.post(reverse("web:reply", args=[conversation.pk]), form)
    assert response.status_code == 302
    assert response.url == reverse("web:conversation", args=[conversation.pk])
    outbox = OutboxMessage.objects.get()
    assert (outbox.kind, outbox.parent, outbox.conversation, outbox.author) == (
        OutboxMessage.Kind.REPLY,
        parent,
        conversation,
        alice,
    )
    shown = client.get(response.url)
    assert b"in the Outbox, goes out in a moment" in shown.content
    assert b"Your email is in the Outbox" in shown.content


def test_a_double_submit_sends_once(client, alice, conversation):
    form = {**_form(client.get(reverse("web:reply", args=[conversation.pk]))), "body": "Hi"}
    client.post(reverse("web:reply", args=[conversation.pk]), form)
    client.post(reverse("web:reply", args=[conversation.pk]), form)
    assert OutboxMessage.objects.count() == 1


def test_a_wrong_address_is_shown_and_nothing_is_sent(client, alice, conversation):
    form = {**_form(client.get(reverse("web:reply", args=[conversation.pk]))), "to": "anna"}
    response = client.post(reverse("web:reply", args=[conversation.pk]), form)
    assert response.status_code == 200
    assert b"&#x27;anna&#x27; is not an email address" in response.content
    assert not OutboxMessage.objects.exists()


def test_reply_all_and_forward_forms(client, alice, conversation):
    forward = client.get(reverse("web:forward", args=[conversation.pk]))
    assert _form(forward)["subject"] == "Fwd: Quote for 40 chairs"
    assert _form(forward)["to"] == ""
    reply_all = client.get(reverse("web:reply_all", args=[conversation.pk]))
    assert reply_all.context["kind"] == OutboxMessage.Kind.REPLY_ALL


def test_reply_all_goes_to_the_sender_and_every_other_recipient_but_us(client, alice, mailbox):
    parent = receive(
        mailbox,
        message_id="<all@customer.test>",
        to="sales@acme.test, Carl Partner <carl@partner.test>",
        headers={"Cc": "Bob <bob@customer.test>, Sales <SALES@acme.test>"},
    )
    conversation = ConversationMessage.objects.get(message=parent).conversation
    form = _form(client.get(reverse("web:reply_all", args=[conversation.pk])))
    assert form["to"] == "Anna Client <anna@customer.test>, carl@partner.test"
    assert form["cc"] == "bob@customer.test"
    plain_reply = _form(client.get(reverse("web:reply", args=[conversation.pk])))
    assert (plain_reply["to"], plain_reply["cc"]) == ("Anna Client <anna@customer.test>", "")


def test_a_reader_may_not_reply_or_compose(client, mailbox, conversation):
    _user(client, mailbox, MailboxGrant.Level.READ)
    assert client.get(reverse("web:reply", args=[conversation.pk])).status_code == 403
    assert client.post(reverse("web:reply", args=[conversation.pk]), {}).status_code == 403
    assert client.get(reverse("web:compose", args=[mailbox.pk])).status_code == 403
    page = client.get(reverse("web:conversation", args=[conversation.pk]))
    assert b">Reply</a>" not in page.content


def test_a_stranger_does_not_learn_that_the_conversation_exists(client, mailbox, conversation):
    client.force_login(UserFactory())
    assert client.get(reverse("web:reply", args=[conversation.pk])).status_code == 404
    assert client.get(reverse("web:compose", args=[mailbox.pk])).status_code == 404
    assert client.get(reverse("web:outbox", args=[mailbox.pk])).status_code == 404


def test_a_message_of_another_conversation_cannot_be_answered(client, alice, conversation):
    other = receive(MailboxFactory(), subject="Elsewhere")
    url = reverse("web:reply", args=[conversation.pk])
    assert client.get(f"{url}?message={other.pk}").status_code == 404


def test_compose_needs_a_login(client, mailbox):
    response = client.get(reverse("web:compose", args=[mailbox.pk]))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_posting_needs_the_csrf_token(mailbox, conversation):
    strict = Client(enforce_csrf_checks=True)
    user = UserFactory()
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.REPLY)
    strict.force_login(user)
    form = {"to": "a@b.test", "subject": "x", "body": "x", "token": "t"}
    assert strict.post(reverse("web:compose", args=[mailbox.pk]), form).status_code == 403
    assert not OutboxMessage.objects.exists()


def test_new_mail_goes_to_the_outbox_page(client, alice, mailbox):
    page = client.get(reverse("web:compose", args=[mailbox.pk]))
    form = {**_form(page), "to": "new@customer.test", "subject": "Hello", "body": "Hi"}
    response = client.post(reverse("web:compose", args=[mailbox.pk]), form)
    assert response.url == reverse("web:outbox", args=[mailbox.pk])
    listing = client.get(response.url)
    assert b"Hello" in listing.content and b"new@customer.test" in listing.content


def test_a_failed_email_shows_the_servers_words_on_the_conversation(client, alice, conversation):
    page = client.get(reverse("web:reply", args=[conversation.pk]))
    client.post(reverse("web:reply", args=[conversation.pk]), {**_form(page), "body": "Hi"})
    OutboxMessage.objects.update(
        status=Status.FAILED, last_error="127.0.0.1:2525 refused the message: 550 5.7.1 spam"
    )
    shown = client.get(reverse("web:conversation", args=[conversation.pk]))
    assert b"not sent. 127.0.0.1:2525 refused the message: 550 5.7.1 spam" in shown.content
