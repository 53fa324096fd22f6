"""Changing a mailbox's IMAP password, against the real Dovecot: a job logs in with the
new password before it is saved, while the page polls it (as the connect page does), and
a mailbox whose login was refused goes back to normal and syncs again."""

import logging
from dataclasses import replace

import pytest
from django.test import Client
from django.urls import reverse

from postroom.accounts.models import Notification
from postroom.mail.models import Message
from postroom.mailboxes import personal
from postroom.mailboxes.actions import (
    ConnectionSettings,
    do_add_mailbox,
    do_grant_mailbox,
)
from postroom.mailboxes.models import ConnectionCheck, Mailbox, MailboxGrant
from postroom.sync import imap, leases
from postroom.sync.service import sync_mailbox
from postroom.testing.connecting import connect_through, listening
from postroom.testing.dovecot import free_port
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

OLD = "the provider's old password"


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


def _mailbox(dovecot, mail_user, *, password=OLD, owner=None, **changes) -> Mailbox:
    """A mailbox on the Dovecot user, saved as if connected earlier (no login now)."""
    conn = ConnectionSettings(
        address=mail_user.address,
        name="Alice's mail" if owner else "Sales",
        imap_host=dovecot.host if dovecot else "",
        imap_port=dovecot.imap_port if dovecot else None,
        imap_security="none",
        username=mail_user.username,
        password=password,
    )
    kind = Mailbox.Kind.PERSONAL if owner else Mailbox.Kind.SHARED
    return do_add_mailbox(replace(conn, **changes), kind=kind, owner=owner)


def _url(mailbox) -> str:
    return reverse("web:mailbox_password", args=[mailbox.pk])


def test_a_refused_mailbox_gets_a_new_password_and_syncs_again(dovecot, mail_user, alice, caplog):
    mailbox = _mailbox(dovecot, mail_user, owner=alice)
    dovecot.deliver(make_email(subject="While refused"), to=mail_user.address)
    with pytest.raises(imap.AuthFailed):
        sync_mailbox(mailbox)
    mailbox.refresh_from_db()
    assert mailbox.status == Mailbox.Status.AUTH_FAILED
    # The owner was told, with a link to this page.
    assert Notification.objects.get(user=alice).url == _url(mailbox)
    assert b"Change the password" in logged_in(alice).get(reverse("web:my_mailboxes")).content

    with caplog.at_level(logging.DEBUG):
        response, check = connect_through(
            logged_in(alice), _url(mailbox), {"password": mail_user.password}
        )

    assert response.status_code == 302
    assert response["Location"] == reverse("web:my_mailbox", args=[mailbox.pk])
    mailbox.refresh_from_db()
    assert mailbox.get_password() == mail_user.password
    assert check.password_encrypted == "", "the check keeps no password once over"
    assert mail_user.password not in mailbox.password_encrypted, "stored encrypted"
    assert (mailbox.status, mailbox.status_message) == (Mailbox.Status.NEW, "")
    assert mail_user.password not in caplog.text, "the password is never logged"
    # The worker leases its folders whatever the status; the next sync logs in with it.
    leases.heartbeat("w")
    assert set(mailbox.folders.values_list("pk", flat=True)) <= leases.claim("w", capacity=100)
    assert sync_mailbox(mailbox).new == 1, "the mail that came while it was refused"
    mailbox.refresh_from_db()
    assert mailbox.status == Mailbox.Status.OK
    assert Message.objects.filter(copies__mailbox=mailbox).count() == 1


def test_a_wrong_password_says_the_server_refused_it_and_saves_nothing(dovecot, mail_user, alice):
    mailbox = _mailbox(dovecot, mail_user, password=mail_user.password, owner=alice)
    before = mailbox.password_encrypted
    response, _check = connect_through(logged_in(alice), _url(mailbox), {"password": "wrong"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Not connected" in page and "The server refused the login" in page
    assert f'href="{_url(mailbox)}"' in page, "the password page, to try again"
    assert 'value="wrong"' not in page, "a password is never echoed back"
    mailbox.refresh_from_db()
    assert mailbox.password_encrypted == before
    assert mailbox.get_password() == mail_user.password


def test_the_page_returns_before_anything_talks_to_the_server(mail_user, alice):
    with listening() as silent:  # accepts connections, never answers
        mailbox = _mailbox(
            None, mail_user, owner=alice, imap_host="127.0.0.1", imap_port=silent.port
        )
        response = logged_in(alice).post(_url(mailbox), {"password": mail_user.password})
        check = ConnectionCheck.objects.get()
        assert response["Location"] == reverse("web:connection_check", args=[check.pk])
        assert silent.accepted == 0
    assert mail_user.password not in check.password_encrypted
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD


def test_an_unreachable_server_says_so_and_saves_nothing(dovecot, mail_user, alice):
    closed = free_port()
    mailbox = _mailbox(dovecot, mail_user, owner=alice, imap_port=closed)
    response, _check = connect_through(
        logged_in(alice), _url(mailbox), {"password": mail_user.password}
    )
    assert "Could not connect to the server" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD


def test_a_tls_failure_says_so_and_saves_nothing(dovecot, mail_user, alice):
    # The plain listener offers no STARTTLS: Postroom never falls back to plain text.
    mailbox = _mailbox(dovecot, mail_user, owner=alice, imap_security="starttls")
    response, _check = connect_through(
        logged_in(alice), _url(mailbox), {"password": mail_user.password}
    )
    assert "TLS with the server failed" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD


def test_an_untrusted_certificate_says_so_and_saves_nothing(dovecot_tls, mail_user_tls, alice):
    mailbox = _mailbox(
        dovecot_tls,
        mail_user_tls,
        owner=alice,
        imap_port=dovecot_tls.imaps_port,
        imap_security="ssl",
    )
    response, _check = connect_through(
        logged_in(alice), _url(mailbox), {"password": mail_user_tls.password}
    )
    assert "Accept a self-signed certificate" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD


def test_an_empty_password_is_refused(dovecot, mail_user, alice):
    mailbox = _mailbox(dovecot, mail_user, owner=alice)
    response = logged_in(alice).post(_url(mailbox), {"password": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD


def test_a_shared_mailboxs_managers_change_it_and_nobody_else(dovecot, mail_user):
    mailbox = _mailbox(dovecot, mail_user)
    manager, replier, stranger = UserFactory(), UserFactory(), UserFactory()
    do_grant_mailbox(mailbox, manager, MailboxGrant.Level.MANAGE)
    do_grant_mailbox(mailbox, replier, MailboxGrant.Level.REPLY)
    good = {"password": mail_user.password}

    assert logged_in(stranger).get(_url(mailbox)).status_code == 404
    assert logged_in(stranger).post(_url(mailbox), good).status_code == 404
    assert logged_in(replier).post(_url(mailbox), good).status_code == 403
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD

    manager_page = logged_in(manager).get(reverse("web:mailboxes")).content.decode()
    assert _url(mailbox) in manager_page
    assert _url(mailbox) not in logged_in(replier).get(reverse("web:mailboxes")).content.decode()
    # The mailbox's own page links it too, for its managers only.
    own_page = reverse("web:mailbox", args=[mailbox.pk])
    assert _url(mailbox) in logged_in(manager).get(own_page).content.decode()
    assert _url(mailbox) not in logged_in(replier).get(own_page).content.decode()
    response, _check = connect_through(logged_in(manager), _url(mailbox), good)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:mailbox", args=[mailbox.pk])
    mailbox.refresh_from_db()
    assert mailbox.get_password() == mail_user.password

    admin = UserFactory(is_superuser=True, is_staff=True)
    assert logged_in(admin).get(_url(mailbox)).status_code == 200


def test_a_personal_mailbox_is_its_owners_alone_to_change(dovecot, mail_user, alice):
    mailbox = _mailbox(dovecot, mail_user, owner=alice)
    admin = UserFactory(is_superuser=True, is_staff=True)
    assert logged_in(admin).get(_url(mailbox)).status_code == 404
    assert logged_in(admin).post(_url(mailbox), {"password": mail_user.password}).status_code == 404
    mailbox.refresh_from_db()
    assert mailbox.get_password() == OLD
    page = logged_in(alice).get(_url(mailbox)).content.decode()
    assert mail_user.username in page and 'type="password"' in page


def test_a_bcc_tracker_has_no_password_to_change(alice):
    tracker = personal.tracker_for(alice)
    assert logged_in(alice).get(_url(tracker.mailbox)).status_code == 404


def test_the_page_needs_a_login(dovecot, mail_user, alice):
    mailbox = _mailbox(dovecot, mail_user, owner=alice)
    response = Client().get(_url(mailbox))
    assert response.status_code == 302 and "login" in response["Location"]
