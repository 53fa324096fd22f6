"""The Mailboxes page shows a user's BCC tracker mailbox apart from the mailboxes with a
server (it has none to show or configure), to its owner alone."""

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mailboxes import personal
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

SECTION = '<section class="tracker-mail">'


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


def _page(user) -> tuple[str, str]:
    """The Mailboxes page of `user`: (its main list, its tracker section)."""
    client = Client()
    client.force_login(user)
    page = client.get(reverse("web:mailboxes")).content.decode()
    main, _, section = page.partition(SECTION)
    assert section, "the tracker section is on the page"
    return main, section


def test_the_owner_sees_their_tracker_apart_from_their_mailboxes(alice):
    shared = MailboxFactory(name="Sales", address="sales@acme.test")
    do_grant_mailbox(shared, alice)
    tracker = personal.tracker_for(alice).mailbox
    tracker_url = reverse("web:mailbox", args=[tracker.pk])

    main, section = _page(alice)

    assert "sales@acme.test" in main
    assert tracker.address not in main and tracker_url not in main
    assert "Sent with your BCC tracker address" in section
    assert tracker_url in section and reverse("web:profile") in section
    client = Client()
    client.force_login(alice)
    assert client.get(tracker_url).status_code == 200, "still reachable for its owner"


def test_a_user_without_a_tracker_yet_is_pointed_to_their_profile(alice):
    main, section = _page(alice)
    assert reverse("web:profile") in section
    assert "No mailboxes you may read yet" in main


def test_nobody_else_sees_a_users_tracker(alice):
    tracker = personal.tracker_for(alice).mailbox
    tracker_url = reverse("web:mailbox", args=[tracker.pk])
    for other in (UserFactory(), UserFactory(is_superuser=True, is_staff=True)):
        personal.tracker_for(other)  # their own tracker, listed in their section
        main, section = _page(other)
        assert tracker.address not in main + section
        assert tracker_url not in main + section
        client = Client()
        client.force_login(other)
        assert client.get(tracker_url).status_code == 404
