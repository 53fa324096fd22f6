"""The workflow's services: responsibility, status, snooze, comments, reply history."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom.accounts.models import Notification
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.jobs import wake_overdue, wake_snoozed
from postroom.mail.models import Conversation, ConversationEvent
from postroom.mail.threads import thread_message
from postroom.mail.workflow import (
    WorkflowError,
    do_assign,
    do_comment,
    do_set_status,
    do_snooze,
    do_take,
    do_unassign,
    mail_threaded,
    newer_customer_email,
    record_reply,
    replies,
)
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db

Kind = ConversationEvent.Kind
Status = Conversation.Status


@pytest.fixture
def alice():
    return UserFactory(username="alice", first_name="Alice", last_name="Smith")


@pytest.fixture
def bob():
    return UserFactory(username="bob", first_name="Bob", last_name="Jones")


@pytest.fixture
def conversation():
    return ConversationFactory(subject="Chairs")


def test_assign_sets_the_responsible_person_and_records_who_when_why(conversation, alice, bob):
    assert do_assign(conversation, bob, acting_user=alice, reason="VIP rule")
    conversation.refresh_from_db()
    assert conversation.responsible == bob
    event = conversation.events.get()
    assert (event.kind, event.actor, event.user) == (Kind.ASSIGNED, alice, bob)
    assert event.detail["reason"] == "VIP rule"
    assert event.created_at is not None


def test_assign_notifies_the_new_responsible_person(conversation, alice, bob):
    do_assign(conversation, bob, acting_user=alice)
    note = Notification.objects.get(user=bob)
    assert "Alice Smith" in note.text and "Chairs" in note.text
    assert note.url == f"/conversations/{conversation.pk}/"


def test_assign_by_postroom_notifies_with_the_reason(conversation, bob):
    do_assign(conversation, bob, reason="round-robin over Support")
    note = Notification.objects.get(user=bob)
    assert note.text.startswith("Postroom") and "round-robin over Support" in note.text
    assert conversation.events.get().actor is None


def test_taking_it_does_not_notify_oneself(conversation, alice):
    assert do_take(conversation, alice)
    assert conversation.responsible == alice
    assert not Notification.objects.exists()


def test_assigning_the_same_person_again_changes_nothing(conversation, alice, bob):
    do_assign(conversation, bob, acting_user=alice)
    assert not do_assign(conversation, bob, acting_user=alice)
    assert conversation.events.count() == 1
    assert Notification.objects.count() == 1


def test_reassign_records_the_previous_person(conversation, alice, bob):
    do_assign(conversation, alice)
    do_assign(conversation, bob, acting_user=alice)
    assert conversation.events.last().detail["previous"] == alice.pk


def test_unassign_records_an_unassigned_event(conversation, alice):
    do_take(conversation, alice)
    assert do_unassign(conversation, acting_user=alice)
    conversation.refresh_from_db()
    assert conversation.responsible is None
    assert conversation.events.last().kind == Kind.UNASSIGNED
    assert not do_unassign(conversation, acting_user=alice)


# ------------------------------------------------------------------- status


def test_close_records_the_status_and_when(conversation, alice):
    assert do_set_status(conversation, Status.CLOSED, acting_user=alice)
    conversation.refresh_from_db()
    assert conversation.status == Status.CLOSED and conversation.closed_at is not None
    event = conversation.events.get()
    assert (event.kind, event.actor, event.detail["status"]) == (Kind.STATUS, alice, "closed")
    assert not do_set_status(conversation, Status.CLOSED, acting_user=alice)


def test_an_unknown_status_is_refused(conversation):
    with pytest.raises(WorkflowError):
        do_set_status(conversation, "archived")


# ------------------------------------------------------------------- snooze


def test_snooze_queues_a_job_that_wakes_it_when_its_time_comes(conversation, alice):
    until = timezone.now() + timedelta(hours=2)
    do_snooze(conversation, until, acting_user=alice)
    job = DBTaskResult.objects.get(task_path="postroom.mail.jobs.wake_snoozed")
    assert job.run_after == until and job.args_kwargs["args"] == [conversation.pk]
    assert not wake_snoozed.call(conversation.pk)  # too early: still snoozed
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now())
    assert wake_snoozed.call(conversation.pk)
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    assert conversation.events.last().kind == Kind.WOKE


def test_waking_tells_the_responsible_person(conversation, alice, bob):
    do_assign(conversation, alice, acting_user=alice)
    do_snooze(conversation, timezone.now() + timedelta(hours=1), acting_user=alice)
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now())
    wake_overdue.call()
    assert Notification.objects.get(user=alice).text.endswith("is back from snooze")


def test_the_sweep_wakes_every_overdue_snooze_and_no_other(alice):
    overdue = ConversationFactory(snoozed_until=timezone.now() - timedelta(minutes=5))
    later = ConversationFactory(snoozed_until=timezone.now() + timedelta(days=1))
    assert wake_overdue.call() == 1
    overdue.refresh_from_db()
    later.refresh_from_db()
    assert overdue.snoozed_until is None and later.snoozed_until is not None


def test_a_stale_snooze_job_leaves_a_later_snooze_alone(conversation, alice):
    do_snooze(conversation, timezone.now() + timedelta(hours=1), acting_user=alice)
    do_snooze(conversation, timezone.now() + timedelta(days=3), acting_user=alice)
    assert not wake_snoozed.call(conversation.pk)
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None


def test_a_snooze_in_the_past_or_of_a_closed_conversation_is_refused(conversation):
    with pytest.raises(WorkflowError):
        do_snooze(conversation, timezone.now() - timedelta(minutes=1))
    do_set_status(conversation, Status.CLOSED)
    with pytest.raises(WorkflowError):
        do_snooze(conversation, timezone.now() + timedelta(hours=1))


def test_closing_ends_a_snooze(conversation):
    do_snooze(conversation, timezone.now() + timedelta(hours=1))
    do_set_status(conversation, Status.CLOSED)
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None


# ------------------------------------------------------------------- arriving mail


@pytest.fixture
def inbox() -> Folder:
    return MailboxFactory(address="sales@acme.test").folders.get(name="INBOX")


def arrive(folder: Folder, uid: int, **fields):
    message = parse_stored(store_copy(folder, 7, FetchedMessage(uid, make_email(**fields))).message)
    conversation = thread_message(message, folder.mailbox)
    mail_threaded([message.pk], folder.mailbox)
    conversation.refresh_from_db()
    return conversation


def test_a_customer_email_reopens_a_closed_conversation(inbox, alice):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    do_set_status(conversation, Status.CLOSED, acting_user=alice)
    conversation = arrive(inbox, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>")
    assert conversation.status == Status.OPEN
    event = conversation.events.last()
    assert (event.kind, event.actor) == (Kind.REOPENED, None)


def test_a_customer_email_reopens_a_pending_one_and_ends_its_snooze(inbox, alice):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    do_set_status(conversation, Status.PENDING, acting_user=alice)
    do_snooze(conversation, timezone.now() + timedelta(days=1), acting_user=alice)
    conversation = arrive(inbox, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>")
    assert (conversation.status, conversation.snoozed_until) == (Status.OPEN, None)


def test_an_older_email_fetched_late_does_not_reopen(inbox, alice):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    do_set_status(conversation, Status.CLOSED, acting_user=alice)
    old = datetime(2020, 1, 1, tzinfo=UTC)
    conversation = arrive(inbox, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>", date=old)
    assert conversation.status == Status.CLOSED


def test_our_own_email_does_not_reopen_and_ends_the_wait(inbox, alice):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    assert conversation.waiting_since is not None
    do_set_status(conversation, Status.CLOSED, acting_user=alice)
    conversation = arrive(
        inbox, 2, sender="Sales <sales@acme.test>", subject="Re: Chairs",
        in_reply_to="<q@customer.test>", to="anna@customer.test",
    )  # fmt: skip
    assert conversation.status == Status.CLOSED and conversation.waiting_since is None


def test_an_auto_reply_does_not_reopen(inbox, alice):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    do_set_status(conversation, Status.CLOSED, acting_user=alice)
    conversation = arrive(
        inbox, 2, subject="Re: Chairs", in_reply_to="<q@customer.test>",
        headers={"Auto-Submitted": "auto-replied"},
    )  # fmt: skip
    assert conversation.status == Status.CLOSED


# ------------------------------------------------------------------- replies


def test_a_reply_is_recorded_with_who_when_from_and_how_long_the_customer_waited(inbox, alice):
    asked = timezone.now() - timedelta(hours=3)
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs", date=asked)
    reply = arrive(
        inbox, 2, sender="sales@acme.test", subject="Re: Chairs", in_reply_to="<q@customer.test>"
    )
    message = reply.messages.order_by("-pk").first()
    Conversation.objects.filter(pk=conversation.pk).update(waiting_since=asked)
    sent = asked + timedelta(hours=2)
    assert record_reply(
        conversation, message, author=alice, from_address="sales@acme.test", sent_at=sent
    )
    assert not record_reply(
        conversation, message, author=alice, from_address="sales@acme.test", sent_at=sent
    )
    (event,) = replies(conversation)
    assert (event.actor, event.created_at) == (alice, sent)
    assert event.detail["from"] == "sales@acme.test"
    assert event.detail["waited_seconds"] == 2 * 3600
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING and conversation.waiting_since is None


def test_a_newer_customer_email_is_found_after_the_one_seen(inbox):
    conversation = arrive(inbox, 1, message_id="<q@customer.test>", subject="Chairs")
    seen = conversation.messages.get()
    assert newer_customer_email(conversation, seen.pk) is None
    arrive(
        inbox, 2, sender="sales@acme.test", subject="Re: Chairs", in_reply_to="<q@customer.test>"
    )
    assert newer_customer_email(conversation, seen.pk) is None  # ours, not the customer's
    arrive(inbox, 3, subject="Re: Chairs", in_reply_to="<q@customer.test>", body="And tables?")
    newer = newer_customer_email(conversation, seen.pk)
    assert newer is not None and newer.from_address == "anna@customer.test"


# ------------------------------------------------------------------- comments


def test_a_comment_notifies_those_mentioned_who_may_read_the_mailbox(alice, bob):
    carol = UserFactory(username="carol")  # no grant on the mailbox
    conversation = ConversationFactory()
    MailboxGrant.objects.create(
        mailbox=conversation.mailbox, user=bob, level=MailboxGrant.Level.READ
    )
    comment = do_comment(conversation, "@bob can you check? cc @carol @alice", author=alice)
    assert list(comment.mentions.all()) == [bob]
    note = Notification.objects.get()
    assert note.user == bob and f"#comment-{comment.pk}" in note.url
    assert carol.notifications.count() == 0


def test_an_empty_comment_is_refused(conversation, alice):
    with pytest.raises(WorkflowError):
        do_comment(conversation, "   ", author=alice)
