"""Moving a conversation to another mailbox (issue 14, point 1): who may, what the
history says, and what moves (the conversation's listing) and what stays (its emails'
copies, their threading, the CRM)."""

import pytest

from postroom.crm.models import Lead, TimelineEntry
from postroom.mail.models import Conversation, ConversationEvent, ConversationMessage, MessageCopy
from postroom.mail.workflow import WorkflowError, do_apply_many, do_assign, do_move_conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant, TrackerAddress
from postroom.outbound.tests.conftest import receive
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

Level = MailboxGrant.Level


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test", imap_host="")


@pytest.fixture
def support():
    return MailboxFactory(name="Support", address="support@acme.test", imap_host="")


@pytest.fixture
def alice(sales, support):
    """Replies from both mailboxes."""
    user = UserFactory(username="alice", first_name="Alice")
    do_grant_mailbox(sales, user, Level.REPLY)
    do_grant_mailbox(support, user, Level.REPLY)
    return user


@pytest.fixture
def asked(sales):
    """A customer's question that came to sales but is for support: (message, conversation)."""
    message = receive(
        sales,
        sender="Anna Client <anna@customer.test>",
        to="sales@acme.test",
        subject="The chair you sold me wobbles",
        message_id="<wobble@customer.test>",
    )
    return message, ConversationMessage.objects.get(message=message).conversation


def test_a_moved_conversation_is_listed_under_the_new_mailbox_and_says_who_moved_it(
    asked, sales, support, alice
):
    message, conversation = asked
    assert do_move_conversation(conversation, support, alice)
    conversation.refresh_from_db()
    assert conversation.mailbox == support
    assert list(Conversation.objects.filter(mailbox=support)) == [conversation]
    assert not Conversation.objects.filter(mailbox=sales).exists()
    event = conversation.events.get(kind=ConversationEvent.Kind.MOVED)
    assert event.actor == alice and event.created_at is not None
    assert (event.detail["from"], event.detail["to"]) == ("sales@acme.test", "support@acme.test")
    # The email's copy stays on the sales server, and its link says which copy threaded it.
    assert list(MessageCopy.objects.filter(message=message).values_list("mailbox", flat=True)) == [
        sales.pk
    ]
    assert ConversationMessage.objects.get(message=message).mailbox == sales


def test_the_customers_next_email_to_the_old_address_joins_the_moved_conversation(
    asked, sales, support, alice
):
    _, conversation = asked
    do_move_conversation(conversation, support, alice)
    follow_up = receive(
        sales,
        sender="Anna Client <anna@customer.test>",
        to="sales@acme.test",
        subject="Re: The chair you sold me wobbles",
        message_id="<wobble-2@customer.test>",
        in_reply_to="<wobble@customer.test>",
    )
    joined = ConversationMessage.objects.get(message=follow_up).conversation
    assert joined == conversation
    joined.refresh_from_db()
    assert (joined.mailbox, joined.message_count) == (support, 2)


def test_the_crm_binding_stays(asked, support, alice):
    message, conversation = asked
    leads = list(Lead.objects.values_list("pk", "email"))
    entries = list(TimelineEntry.objects.values_list("pk", "object_id", "content_type"))
    assert leads  # the customer's first email made a lead
    do_move_conversation(conversation, support, alice)
    assert list(Lead.objects.values_list("pk", "email")) == leads
    assert list(TimelineEntry.objects.values_list("pk", "object_id", "content_type")) == entries


def test_moving_needs_the_reply_right_on_both_mailboxes(asked, sales, support):
    _, conversation = asked
    reads_support = UserFactory(username="rita")
    do_grant_mailbox(sales, reads_support, Level.REPLY)
    do_grant_mailbox(support, reads_support, Level.READ)
    only_support = UserFactory(username="sam")
    do_grant_mailbox(support, only_support, Level.MANAGE)
    for person, refused in [(reads_support, "support@"), (only_support, "sales@")]:
        with pytest.raises(WorkflowError, match=f"reply right on {refused}"):
            do_move_conversation(conversation, support, person)
    conversation.refresh_from_db()
    assert conversation.mailbox == sales
    assert not conversation.events.filter(kind=ConversationEvent.Kind.MOVED).exists()


def test_a_responsible_person_who_cannot_read_the_new_mailbox_is_unassigned(
    asked, sales, support, alice
):
    _, conversation = asked
    bob = UserFactory(username="bob", first_name="Bob")
    do_grant_mailbox(sales, bob, Level.REPLY)
    do_assign(conversation, bob, acting_user=alice)
    do_move_conversation(conversation, support, alice)
    conversation.refresh_from_db()
    assert conversation.responsible is None
    unassigned = conversation.events.get(kind=ConversationEvent.Kind.UNASSIGNED)
    assert (
        unassigned.actor == alice
        and "may not read support@acme.test" in unassigned.detail["reason"]
    )


def test_a_responsible_person_who_reads_both_keeps_it(asked, support, alice):
    _, conversation = asked
    do_assign(conversation, alice, acting_user=alice)
    do_move_conversation(conversation, support, alice)
    conversation.refresh_from_db()
    assert conversation.responsible == alice


def test_no_move_to_the_same_mailbox_nowhere_or_a_bcc_tracker(asked, sales, alice):
    _, conversation = asked
    assert not do_move_conversation(conversation, sales, alice)
    with pytest.raises(WorkflowError, match="choose the mailbox"):
        do_move_conversation(conversation, None, alice)
    tracker = MailboxFactory(kind="personal", owner=alice, address="alice+t@acme.test")
    TrackerAddress.objects.create(user=alice, mailbox=tracker, key="k")
    with pytest.raises(WorkflowError, match="BCC tracker"):
        do_move_conversation(conversation, tracker, alice)
    assert not ConversationEvent.objects.filter(kind=ConversationEvent.Kind.MOVED).exists()


def test_the_bulk_action_moves_each_and_says_why_not_for_the_others(sales, support, alice):
    mine = [
        receive(sales, subject=f"Question {n}", message_id=f"<q{n}@customer.test>")
        for n in range(2)
    ]
    conversations = [ConversationMessage.objects.get(message=m).conversation for m in mine]
    elsewhere = MailboxFactory(name="Elsewhere", address="other@acme.test", imap_host="")
    foreign = receive(elsewhere, subject="Not hers", message_id="<other@customer.test>")
    conversations.append(ConversationMessage.objects.get(message=foreign).conversation)
    changed, problems = do_apply_many(conversations, "move", acting_user=alice, to_mailbox=support)
    assert changed == 2
    assert problems == ["“Not hers”: moving needs the reply right on other@acme.test"]
    assert Conversation.objects.filter(mailbox=support).count() == 2
