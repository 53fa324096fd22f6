"""The admins' quarantine page: unparseable messages, their errors, and Reprocess."""

import pytest
from django.urls import reverse

from postroom.mail import ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def quarantined(monkeypatch):
    mailbox = MailboxFactory(address="sales@acme.test")
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(1, make_email(subject="Lost?")))
    message = parse_stored(copy.message)
    monkeypatch.setattr(ingest, "parse_message", original)
    return message


@pytest.fixture
def admin(client):
    user = UserFactory(is_superuser=True)
    client.force_login(user)
    return user


def test_admins_see_quarantined_messages_with_their_error(client, admin, quarantined):
    response = client.get(reverse("web:quarantine"))
    assert response.status_code == 200
    assert b"ZeroDivisionError" in response.content
    assert b"sales@acme.test (INBOX)" in response.content
    assert reverse("web:quarantine_reprocess", args=[quarantined.pk]).encode() in response.content


def test_other_users_do_not_see_the_quarantine(client, quarantined):
    client.force_login(UserFactory(is_staff=True))
    assert client.get(reverse("web:quarantine")).status_code == 404
    url = reverse("web:quarantine_reprocess", args=[quarantined.pk])
    assert client.post(url).status_code == 404
    quarantined.refresh_from_db()
    assert quarantined.status == Message.Status.QUARANTINED


def test_reprocess_parses_the_message_and_sends_it_on(client, admin, quarantined, monkeypatch):
    started = []
    monkeypatch.setattr(
        "postroom.pipeline.messages_arrived", lambda ids, mailbox_id: started.append(ids)
    )
    response = client.post(reverse("web:quarantine_reprocess", args=[quarantined.pk]))
    assert response.status_code == 302 and response.url == reverse("web:quarantine")
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.subject) == (Message.Status.PARSED, "Lost?")
    assert started == [[quarantined.pk]]


def test_reprocess_says_when_a_message_still_fails(client, admin, quarantined, monkeypatch):
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    response = client.post(reverse("web:quarantine_reprocess", args=[quarantined.pk]), follow=True)
    assert b"is still quarantined" in response.content


def test_reprocess_needs_a_post(client, admin, quarantined):
    assert client.get(reverse("web:quarantine_reprocess", args=[quarantined.pk])).status_code == 405
