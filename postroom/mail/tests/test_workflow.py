"""The workflow's services: responsibility, status, snooze, comments, reply history."""

import pytest

from postroom.accounts.models import Notification
from postroom.mail.models import ConversationEvent
from postroom.mail.workflow import do_assign, do_take, do_unassign
from postroom.testing.factories import ConversationFactory, UserFactory

pytestmark = pytest.mark.django_db

Kind = ConversationEvent.Kind


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
