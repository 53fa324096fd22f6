"""Unanswered mail: the inbox view of conversations whose customer has waited longer than
N hours (N chosen in the view), per mailbox and per person, sorted by the wait; and the
reply deadline (due soon, overdue) on each row."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    support = MailboxFactory(name="Support", address="support@acme.test")
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    for mailbox in (sales, support):
        for user in (alice, bob):
            do_grant_mailbox(mailbox, user, MailboxGrant.Level.REPLY)
    now = timezone.now()

    def waiting(subject, hours, mailbox=sales, responsible=alice, **fields):
        fields.setdefault("waiting_since", now - timedelta(hours=hours))
        return ConversationFactory(
            mailbox=mailbox, subject=subject, responsible=responsible, message_count=1,
            last_message_at=now, **fields,
        )  # fmt: skip

    waiting("Two days", 48)
    waiting("Five hours", 5)
    waiting("One hour", 1)
    waiting("Bob's ten hours", 10, responsible=bob)
    waiting("Support's thirty hours", 30, mailbox=support)
    waiting("Answered long ago", 0, waiting_since=None)
    waiting("Closed while waiting", 50, status=Conversation.Status.CLOSED)
    return sales, support, alice, bob


def listed(client, **params) -> list[str]:
    response = client.get(reverse("web:inbox"), {"view": "unanswered", **params})
    assert response.status_code == 200
    return [row.conversation.subject for row in response.context["rows"]]


def test_it_lists_the_open_conversations_waiting_longer_than_n_hours_longest_first(world):
    client = logged_in(world[2])
    assert listed(client, hours=4) == [
        "Two days", "Support's thirty hours", "Bob's ten hours", "Five hours",
    ]  # fmt: skip
    assert listed(client, hours=24) == ["Two days", "Support's thirty hours"]
    assert listed(client) == listed(client, hours=4)  # 4 hours unless chosen


def test_it_sorts_the_shortest_wait_first_when_asked(world):
    assert listed(logged_in(world[2]), hours=4, sort="shortest") == [
        "Five hours", "Bob's ten hours", "Support's thirty hours", "Two days",
    ]  # fmt: skip


def test_it_narrows_to_a_mailbox_and_to_a_person(world):
    sales, support, alice, bob = world
    client = logged_in(alice)
    assert listed(client, hours=4, mailbox=support.pk) == ["Support's thirty hours"]
    assert listed(client, hours=4, responsible=bob.pk) == ["Bob's ten hours"]


def test_it_shows_only_mailboxes_the_user_may_read(world):
    outsider = UserFactory(username="mallory")
    assert listed(logged_in(outsider), hours=0) == []


def test_a_row_shows_an_overdue_and_a_due_soon_deadline(world):
    sales, _, alice, _ = world
    now = timezone.now()
    Conversation.objects.filter(subject="Two days").update(reply_due_at=now - timedelta(hours=3))
    Conversation.objects.filter(subject="Five hours").update(
        reply_due_at=now + timedelta(minutes=10)
    )
    html = logged_in(alice).get(reverse("web:inbox"), {"view": "unanswered"}).content.decode()
    assert 'class="due due-overdue"' in html and "Overdue 3" in html
    assert 'class="due due-soon"' in html and "Due in 9" in html


def test_the_navigation_counts_the_unanswered_at_the_default_threshold(world):
    response = logged_in(world[2]).get(reverse("web:inbox"))
    counted = {name: count for name, _, count in response.context["views"]}
    assert counted["unanswered"] == 4  # longer than 4 hours, open, in either mailbox


def test_the_conversation_page_shows_its_reply_deadline_until_it_is_closed(world):
    sales, _, alice, _ = world
    conversation = ConversationFactory(
        mailbox=sales,
        subject="Soon",
        message_count=1,
        reply_due_at=timezone.now() + timedelta(minutes=20),
    )
    client = logged_in(alice)
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    assert 'data-due="soon"' in page and "Due in" in page
    Conversation.objects.filter(pk=conversation.pk).update(status=Conversation.Status.CLOSED)
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    assert "data-due" not in page
