import pytest
from django.urls import reverse

from postroom.accounts.models import Notification
from postroom.mailboxes.actions import do_grant_mailbox, do_record_sync_failure
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_refused_login_notifies_the_mailbox_admins_once():
    mailbox = MailboxFactory()
    admin = UserFactory(is_superuser=True)
    manager, reader = UserFactory(), UserFactory()
    do_grant_mailbox(mailbox, manager, MailboxGrant.Level.MANAGE)
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    for _ in range(3):  # the worker retries; only the first failure tells anyone
        do_record_sync_failure(mailbox, Mailbox.Status.AUTH_FAILED, "refused the login: nope")
    # A list, not a set: three failures must not make three notifications each.
    assert sorted(Notification.objects.values_list("user", flat=True)) == sorted(
        [admin.pk, manager.pk]
    )
    assert "refused the login: nope" in Notification.objects.first().text


def test_the_header_counts_unread_notifications_and_they_can_be_read(client):
    user = UserFactory()
    Notification.objects.create(user=user, text="Sales mailbox: login refused")
    client.force_login(user)
    page = client.get(reverse("web:notifications"))
    assert b'<span class="badge">1</span>' in page.content
    assert b"login refused" in page.content
    client.post(reverse("web:notifications_read"))
    assert b'<span class="badge">' not in client.get(reverse("web:notifications")).content


def test_notifications_are_private(client):
    Notification.objects.create(user=UserFactory(), text="someone else's")
    client.force_login(UserFactory())
    assert b"someone else" not in client.get(reverse("web:notifications")).content
