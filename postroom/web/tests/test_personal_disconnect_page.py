"""The "Disconnect" page of a personal mailbox: its owner's alone, a confirmation first,
then a POST with the CSRF token."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mailboxes import personal
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


@pytest.fixture
def mailbox(alice):
    return MailboxFactory(
        kind=Mailbox.Kind.PERSONAL, owner=alice, address="alice@home.test", name="Alice's mail"
    )


def _url(mailbox) -> str:
    return reverse("web:disconnect_mailbox", args=[mailbox.pk])


def test_the_owner_confirms_then_the_mailbox_is_gone_from_their_lists(alice, mailbox):
    client = logged_in(alice, enforce_csrf_checks=True)
    settings_page = client.get(reverse("web:my_mailbox", args=[mailbox.pk])).content.decode()
    assert _url(mailbox) in settings_page
    confirm = client.get(_url(mailbox))
    page = confirm.content.decode()
    assert confirm.status_code == 200
    assert "alice@home.test" in page and "stops reading this mailbox" in page
    assert Mailbox.objects.filter(pk=mailbox.pk).exists(), "a GET changes nothing"

    assert client.post(_url(mailbox)).status_code == 403, "no CSRF token, no disconnection"
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post(_url(mailbox), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302 and response["Location"] == reverse("web:my_mailboxes")
    assert not Mailbox.objects.filter(pk=mailbox.pk).exists()
    mine = client.get(reverse("web:my_mailboxes")).content.decode()
    assert "Disconnected alice@home.test" in mine
    assert "alice@home.test" not in client.get(reverse("web:mailboxes")).content.decode()
    assert client.get(reverse("web:mailbox", args=[mailbox.pk])).status_code == 404


def test_nobody_else_may_disconnect_it(alice, mailbox):
    for other in (UserFactory(), UserFactory(is_superuser=True, is_staff=True)):
        client = logged_in(other)
        assert client.get(_url(mailbox)).status_code == 404
        assert client.post(_url(mailbox)).status_code == 404
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_a_shared_mailbox_or_the_bcc_tracker_is_not_disconnected_here(alice):
    shared = MailboxFactory(owner=alice)
    tracker = personal.tracker_for(alice).mailbox
    client = logged_in(alice)
    for box in (shared, tracker):
        assert client.post(_url(box)).status_code == 404
    assert Mailbox.objects.filter(pk__in=[shared.pk, tracker.pk]).count() == 2


def test_the_page_needs_a_login(mailbox):
    response = Client().post(_url(mailbox))
    assert response.status_code == 302 and "login" in response["Location"]
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()
