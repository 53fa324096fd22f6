"""Django's admin, walked as an administrator: every changelist and change page of every
registered model. A personal mailbox is its owner's alone, administrators included, so no
page shows its mail or drafts, and none changes a mailbox's kind, owner or grants."""

import pytest
from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from postroom.crm.models import Activity
from postroom.mail import ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound.models import Draft, OutboxMessage
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

SECRET = "Xyzzy-private-7Q"  # in every piece of Bob's personal mail


@pytest.fixture
def personal_mail(monkeypatch):
    """Bob's personal mailbox with an email (on a CRM activity), a quarantined email, a
    draft and a sent email, each carrying SECRET; a shared mailbox beside it."""
    bob = UserFactory(username="bob")
    mailbox = MailboxFactory(address="bob@home.test", kind=Mailbox.Kind.PERSONAL, owner=bob)
    MailboxFactory(address="sales@acme.test")
    folder = mailbox.folders.get()
    raw = make_email(subject=f"Salary {SECRET}", body=f"Body {SECRET}", to="bob@home.test")
    message = parse_stored(store_copy(folder, 1, FetchedMessage(1, raw)).message)
    Activity.objects.create(
        kind=Activity.Kind.EMAIL,
        direction=Activity.Direction.INCOMING,
        subject="Salary",
        message=message,
        occurred_at=timezone.now(),
    )
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    parse_stored(
        store_copy(folder, 1, FetchedMessage(2, make_email(subject=f"Broken {SECRET}"))).message
    )
    monkeypatch.setattr(ingest, "parse_message", original)
    Draft.objects.create(
        author=bob, mailbox=mailbox, to="anna@customer.test", subject=f"Draft {SECRET}"
    )
    OutboxMessage.objects.create(
        mailbox=mailbox,
        author=bob,
        message_id="sent-1@home.test",
        subject=f"Sent {SECRET}",
        sender="bob@home.test",
        recipients=["anna@customer.test"],
        raw=f"Subject: Sent {SECRET}\r\n\r\n{SECRET}\r\n".encode(),
        idempotency_key="sent-1",
    )
    return mailbox


@pytest.fixture
def administrator():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def _admin_pages():
    for model in admin.site._registry:
        opts = model._meta
        yield reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        yield reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
        for pk in model._default_manager.values_list("pk", flat=True)[:50]:
            yield reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])


def test_no_admin_page_shows_personal_mail(personal_mail, administrator):
    client = logged_in(administrator)
    walked = 0
    for url in [reverse("admin:index"), *_admin_pages()]:
        response = client.get(url)
        assert response.status_code in (200, 403), url
        assert SECRET not in response.content.decode(), url
        walked += 1
    assert walked > 25  # every model's changelist, and the mailboxes' change pages


def test_the_admin_cannot_change_a_mailbox(personal_mail, administrator):
    client = logged_in(administrator)
    url = reverse("admin:mailboxes_mailbox_change", args=[personal_mail.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="kind"' not in page.content and b'name="owner"' not in page.content
    response = client.post(
        url,
        {"address": personal_mail.address, "name": "Mine now", "kind": "shared", "owner": ""},
    )
    assert response.status_code == 403
    personal_mail.refresh_from_db()
    assert (personal_mail.kind, personal_mail.owner.username) == ("personal", "bob")
    assert client.get(reverse("admin:mailboxes_mailbox_add")).status_code == 403
    assert not MailboxGrant.objects.filter(mailbox=personal_mail).exists()


def test_the_admin_offers_no_drafts_nor_outbox(administrator):
    client = logged_in(administrator)
    for name in ["outbound_draft", "outbound_outboxmessage", "crm_activity", "crm_timelineentry"]:
        with pytest.raises(NoReverseMatch):
            reverse(f"admin:{name}_changelist")
    assert b"Drafts" not in client.get(reverse("admin:index")).content
