"""The quarantine page: unparseable messages, their errors, and Reprocess; a shared
mailbox's for administrators, a personal mailbox's for its owner alone."""

import pytest
from django.urls import reverse

from postroom import jobs
from postroom.crm.models import Activity, Lead
from postroom.mail import ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Conversation, Message
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

LOST = make_email(subject="Lost?", message_id="<lost@customer.test>")


def _quarantine(monkeypatch, mailbox, raw, uid=1):
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid, raw))
    message = parse_stored(copy.message) if copy else None
    monkeypatch.setattr(ingest, "parse_message", original)
    return message


@pytest.fixture
def quarantined(monkeypatch):
    mailbox = MailboxFactory(address="sales@acme.test")
    return _quarantine(monkeypatch, mailbox, LOST)


@pytest.fixture
def bob():
    return UserFactory(username="bob")


@pytest.fixture
def personal_quarantined(monkeypatch, bob):
    mailbox = MailboxFactory(address="bob@home.test", kind=Mailbox.Kind.PERSONAL, owner=bob)
    return _quarantine(monkeypatch, mailbox, make_email(subject="Bob's private mail"))


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


def test_other_users_do_not_see_the_shared_quarantine(client, quarantined):
    client.force_login(UserFactory(is_staff=True))
    response = client.get(reverse("web:quarantine"))
    assert response.status_code == 200
    assert b"sales@acme.test" not in response.content
    assert b"Nothing is quarantined" in response.content
    url = reverse("web:quarantine_reprocess", args=[quarantined.pk])
    assert client.post(url).status_code == 404
    quarantined.refresh_from_db()
    assert quarantined.status == Message.Status.QUARANTINED


def test_the_owner_sees_and_reprocesses_their_personal_quarantine(
    bob, personal_quarantined, monkeypatch
):
    monkeypatch.setattr("postroom.pipeline.messages_arrived", lambda ids, mailbox_id: None)
    client = logged_in(bob)
    response = client.get(reverse("web:quarantine"))
    assert b"bob@home.test (INBOX)" in response.content
    assert (
        client.post(reverse("web:quarantine_reprocess", args=[personal_quarantined.pk])).status_code
        == 302
    )
    personal_quarantined.refresh_from_db()
    assert personal_quarantined.status == Message.Status.PARSED


def test_administrators_do_not_see_personal_quarantine(client, admin, personal_quarantined):
    response = client.get(reverse("web:quarantine"))
    assert b"bob@home.test" not in response.content
    assert f"quarantined-{personal_quarantined.pk}".encode() not in response.content
    url = reverse("web:quarantine_reprocess", args=[personal_quarantined.pk])
    assert client.post(url).status_code == 404
    personal_quarantined.refresh_from_db()
    assert personal_quarantined.status == Message.Status.QUARANTINED


def test_an_email_also_in_a_shared_mailbox_shows_administrators_only_its_shared_copy(
    client, admin, quarantined, monkeypatch, bob
):
    personal = MailboxFactory(address="bob@home.test", kind=Mailbox.Kind.PERSONAL, owner=bob)
    store_copy(personal.folders.get(), 1, FetchedMessage(7, LOST))
    assert quarantined.copies.count() == 2  # the same email, seen by both mailboxes
    response = client.get(reverse("web:quarantine"))
    assert b"sales@acme.test (INBOX)" in response.content
    assert b"bob@home.test" not in response.content
    bobs = logged_in(bob).get(reverse("web:quarantine"))
    assert b"bob@home.test (INBOX)" in bobs.content
    assert b"sales@acme.test" not in bobs.content


def test_only_administrators_see_the_jobs_given_up(bob, personal_quarantined, monkeypatch):
    monkeypatch.setattr(
        "postroom.web.quarantine_views.gave_up",
        lambda: [{"task_path": "postroom.mail.jobs.capture", "args_kwargs": {"args": [1]}}],
    )
    assert b"Jobs given up" not in logged_in(bob).get(reverse("web:quarantine")).content
    admin = logged_in(UserFactory(is_superuser=True))
    assert b"Jobs given up" in admin.get(reverse("web:quarantine")).content


@pytest.mark.django_db(transaction=True)
def test_reprocess_parses_the_message_and_sends_it_on(monkeypatch):
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead")
    quarantined = _quarantine(monkeypatch, mailbox, LOST)
    admin = logged_in(UserFactory(is_superuser=True))
    response = admin.post(reverse("web:quarantine_reprocess", args=[quarantined.pk]))
    assert response.status_code == 302 and response.url == reverse("web:quarantine")
    quarantined.refresh_from_db()
    assert (quarantined.status, quarantined.subject) == (Message.Status.PARSED, "Lost?")
    jobs.drain_embedded_queue()  # the real path: ingest, then capture into the CRM
    conversation = Conversation.objects.get(mailbox=mailbox, messages=quarantined)
    assert conversation.subject == "Lost?" and conversation.message_count == 1
    lead = Lead.objects.get(email="anna@customer.test")
    assert Activity.objects.filter(message=quarantined, entries__object_id=lead.pk).exists()


def test_reprocess_says_when_a_message_still_fails(client, admin, quarantined, monkeypatch):
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    response = client.post(reverse("web:quarantine_reprocess", args=[quarantined.pk]), follow=True)
    assert b"is still quarantined" in response.content


def test_reprocess_needs_a_post(client, admin, quarantined):
    assert client.get(reverse("web:quarantine_reprocess", args=[quarantined.pk])).status_code == 405
