"""A mailbox's kind, and a personal mailbox's owner, are fixed once it is connected:
otherwise someone else (an administrator through Django's admin, a script) could turn a
personal mailbox into a shared one, or make it theirs, and read it."""

import pytest

from postroom.mailboxes.models import KindChangeError, Mailbox
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def personal():
    return MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=UserFactory(username="bob"))


def test_it_refuses_to_turn_a_personal_mailbox_into_a_shared_one(personal):
    mailbox = Mailbox.objects.get(pk=personal.pk)
    mailbox.kind = Mailbox.Kind.SHARED
    with pytest.raises(KindChangeError, match="kind never changes"):
        mailbox.save()
    assert Mailbox.objects.get(pk=personal.pk).kind == Mailbox.Kind.PERSONAL


def test_it_refuses_to_turn_a_shared_mailbox_into_a_personal_one():
    shared = Mailbox.objects.get(pk=MailboxFactory().pk)
    shared.kind, shared.owner = Mailbox.Kind.PERSONAL, UserFactory()
    with pytest.raises(KindChangeError):
        shared.save()
    assert Mailbox.objects.get(pk=shared.pk).kind == Mailbox.Kind.SHARED


def test_it_refuses_to_give_a_personal_mailbox_another_owner(personal):
    mailbox = Mailbox.objects.get(pk=personal.pk)
    mailbox.owner = UserFactory(username="eve", is_superuser=True)
    with pytest.raises(KindChangeError, match="owner never changes"):
        mailbox.save()
    assert Mailbox.objects.get(pk=personal.pk).owner.username == "bob"


def test_it_refuses_when_loaded_without_the_kind(personal):
    mailbox = Mailbox.objects.only("pk", "address").get(pk=personal.pk)
    mailbox.kind = Mailbox.Kind.SHARED
    with pytest.raises(KindChangeError):
        mailbox.save()


def test_it_refuses_a_bulk_update_of_the_kind_or_owner(personal):
    with pytest.raises(KindChangeError):
        Mailbox.objects.filter(pk=personal.pk).update(kind=Mailbox.Kind.SHARED)
    with pytest.raises(KindChangeError):
        Mailbox.objects.filter(pk=personal.pk).update(owner=UserFactory())
    assert Mailbox.objects.get(pk=personal.pk).kind == Mailbox.Kind.PERSONAL


def test_it_still_saves_other_changes(personal):
    mailbox = Mailbox.objects.get(pk=personal.pk)
    mailbox.name = "Bob's mail"
    mailbox.save()
    mailbox.save(update_fields=["name"])
    Mailbox.objects.filter(pk=personal.pk).update(status=Mailbox.Status.OK)
    assert Mailbox.objects.get(pk=personal.pk).name == "Bob's mail"
