"""do_send_email: the Outbox row, its job and its headers, written in one transaction."""

import email
from email import policy

import pytest
from django_tasks_db.models import DBTaskResult

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound.actions import (
    Composition,
    OutboundError,
    do_send_email,
    draft_for,
)
from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import MailboxFactory, UserFactory

from .conftest import receive

pytestmark = pytest.mark.django_db

Kind = OutboxMessage.Kind


@pytest.fixture
def alice(mailbox):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.REPLY)
    return user


def _parsed(outbox: OutboxMessage) -> email.message.EmailMessage:
    return email.message_from_bytes(bytes(outbox.raw), policy=policy.default)


def test_it_queues_the_email_with_its_job(mailbox, alice):
    outbox = do_send_email(
        mailbox,
        Composition(
            to=["Anna <anna@customer.test>"], cc=["Bob@Customer.test"], subject="Hi", body="Hello"
        ),
        acting_user=alice,
    )
    assert outbox.status == OutboxMessage.Status.QUEUED
    assert outbox.recipients == ["anna@customer.test", "bob@customer.test"]
    assert outbox.sender == "sales@acme.test"
    job = DBTaskResult.objects.get()
    assert job.task_path == "postroom.outbound.jobs.deliver_outbox"
    assert job.args_kwargs["args"] == [outbox.pk]


def test_the_email_comes_from_the_shared_address_with_the_authors_name(mailbox, alice):
    outbox = do_send_email(
        mailbox, Composition(to=["a@b.test"], subject="Hi", body="x"), acting_user=alice
    )
    msg = _parsed(outbox)
    assert msg["From"] == "Alice Smith at Sales <sales@acme.test>"
    assert msg["Message-ID"] == f"<{outbox.message_id}>"
    assert outbox.message_id.endswith("@acme.test")


def test_a_user_without_a_name_is_named_by_login(mailbox):
    bob = UserFactory(username="bob")
    do_grant_mailbox(mailbox, bob, MailboxGrant.Level.MANAGE)
    outbox = do_send_email(
        mailbox, Composition(to=["a@b.test"], subject="Hi", body="x"), acting_user=bob
    )
    assert _parsed(outbox)["From"] == "bob at Sales <sales@acme.test>"


def test_a_reply_carries_in_reply_to_and_references(mailbox, alice):
    first = receive(mailbox, message_id="<first@customer.test>", subject="Price request")
    second = receive(
        mailbox,
        message_id="<second@customer.test>",
        subject="Re: Price request",
        in_reply_to="<first@customer.test>",
    )
    draft = draft_for(Kind.REPLY, mailbox, alice, second)
    assert draft.subject == "Re: Price request"
    assert draft.to == ["Anna Client <anna@customer.test>"]
    outbox = do_send_email(
        mailbox,
        Composition(to=draft.to, subject=draft.subject, body="It is 40 €." + draft.body),
        acting_user=alice,
        kind=Kind.REPLY,
        parent=second,
    )
    msg = _parsed(outbox)
    assert msg["In-Reply-To"] == "<second@customer.test>"
    assert msg["References"] == "<first@customer.test> <second@customer.test>"
    assert msg["Subject"] == "Re: Price request"
    assert first.pk != second.pk


def test_a_forward_stays_in_the_thread_but_answers_nobody(mailbox, alice):
    parent = receive(mailbox, message_id="<ask@customer.test>")
    draft = draft_for(Kind.FORWARD, mailbox, alice, parent)
    assert draft.subject == "Fwd: Price request" and draft.to == []
    assert "---------- Forwarded message ----------" in draft.body
    outbox = do_send_email(
        mailbox,
        Composition(to=["boss@partner.test"], subject=draft.subject, body=draft.body),
        acting_user=alice,
        kind=Kind.FORWARD,
        parent=parent,
    )
    msg = _parsed(outbox)
    assert msg["In-Reply-To"] is None
    assert msg["References"] == "<ask@customer.test>"


def test_the_same_form_sent_twice_queues_one_email(mailbox, alice):
    email_ = Composition(to=["a@b.test"], subject="Hi", body="x")
    first = do_send_email(mailbox, email_, acting_user=alice, idempotency_key="k1")
    again = do_send_email(mailbox, email_, acting_user=alice, idempotency_key="k1")
    assert first.pk == again.pk
    assert OutboxMessage.objects.count() == DBTaskResult.objects.count() == 1


def test_a_reader_may_not_send(mailbox):
    reader = UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    with pytest.raises(OutboundError, match="may not send from sales@acme.test"):
        do_send_email(
            mailbox, Composition(to=["a@b.test"], subject="Hi", body="x"), acting_user=reader
        )
    assert not OutboxMessage.objects.exists()


def test_a_personal_mailbox_sends_for_its_owner_only(alice):
    owner = UserFactory()
    personal = MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=owner, smtp_host="h", smtp_port=25)
    do_grant_mailbox(personal, alice, MailboxGrant.Level.MANAGE)  # grants do not open it
    email_ = Composition(to=["a@b.test"], subject="Hi", body="x")
    with pytest.raises(OutboundError):
        do_send_email(personal, email_, acting_user=alice)
    assert do_send_email(personal, email_, acting_user=owner).author == owner


def test_a_mailbox_without_smtp_cannot_send(alice):
    mailbox = MailboxFactory()
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    with pytest.raises(OutboundError, match="no SMTP server"):
        do_send_email(
            mailbox, Composition(to=["a@b.test"], subject="Hi", body="x"), acting_user=alice
        )


def test_an_email_needs_a_recipient(mailbox, alice):
    with pytest.raises(OutboundError, match="at least one recipient"):
        do_send_email(mailbox, Composition(to=[], subject="Hi", body="x"), acting_user=alice)
