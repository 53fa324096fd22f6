"""The "My mailboxes → Connect" page and the profile's tracker, with Django's test client
against the real Dovecot: a job logs in before anything is saved, while the page polls."""

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mailboxes import personal
from postroom.mailboxes.models import ConnectionCheck, Folder, Mailbox
from postroom.testing.connecting import connect_through, listening
from postroom.testing.dovecot import free_port
from postroom.testing.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice", email="alice@acme.test")
    client.force_login(user)
    return user


def _form(dovecot, mail_user, **changes) -> dict:
    data = {
        "address": mail_user.address,
        "name": "",
        "imap_host": dovecot.host if dovecot else "",
        "imap_port": dovecot.imap_port if dovecot else "",
        "imap_security": "none",
        "username": mail_user.username,
        "password": mail_user.password,
        "initial_days": 14,
        "unknown_people": "ignore",
    }
    return {**data, **changes}


def test_a_wrong_password_shows_the_servers_refusal_and_saves_nothing(
    client, alice, dovecot, mail_user
):
    url = reverse("web:connect_mailbox")
    response, _check = connect_through(client, url, _form(dovecot, mail_user, password="wrong"))
    assert response.status_code == 200
    assert "The server refused the login" in response.content.decode()
    assert b'value="wrong"' not in response.content, "a password is never echoed back"
    assert f"{reverse('web:connect_mailbox')}?again=" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_an_unreachable_server_says_so_and_saves_nothing(client, alice, dovecot, mail_user):
    closed = free_port()
    response, _check = connect_through(
        client, reverse("web:connect_mailbox"), _form(dovecot, mail_user, imap_port=closed)
    )
    assert "Could not connect to the server" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_a_port_that_is_not_imap_is_named_as_such_without_its_words(client, alice, mail_user):
    # Any user may connect a personal mailbox: the form must not read other ports.
    with listening(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n") as ssh:
        form = {**_form(None, mail_user), "imap_host": "127.0.0.1", "imap_port": ssh.port}
        response, check = connect_through(client, reverse("web:connect_mailbox"), form)
    page = response.content.decode()
    assert "did not answer as an IMAP server" in page
    assert "SSH" not in page and "OpenSSH" not in check.outcome
    assert not Mailbox.objects.exists()


def test_a_server_without_tls_is_refused_when_tls_is_asked_for(client, alice, dovecot, mail_user):
    response, _check = connect_through(
        client, reverse("web:connect_mailbox"), _form(dovecot, mail_user, imap_security="starttls")
    )
    assert "TLS with the server failed" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_only_the_ports_the_administrator_allows_are_tried(
    client, alice, dovecot, mail_user, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "IMAP_ALLOWED_PORTS": [993, 143]}
    response = client.post(reverse("web:connect_mailbox"), _form(dovecot, mail_user))
    assert "only on these ports: 993, 143" in response.content.decode()
    assert not ConnectionCheck.objects.exists()


def test_connecting_saves_a_personal_mailbox_syncing_inbox_and_sent(
    client, alice, dovecot, mail_user
):
    response, _check = connect_through(
        client, reverse("web:connect_mailbox"), _form(dovecot, mail_user, unknown_people="lead")
    )
    mailbox = Mailbox.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:my_mailbox", args=[mailbox.pk])
    assert (mailbox.kind, mailbox.owner, mailbox.name) == ("personal", alice, mail_user.address)
    assert (mailbox.initial_days, mailbox.crm_rule, mailbox.crm_responsible) == (14, "lead", alice)
    assert mailbox.get_password() == mail_user.password
    synced = set(mailbox.folders.filter(is_synced=True).values_list("role", flat=True))
    assert synced == {Folder.Role.INBOX, Folder.Role.SENT}
    page = client.get(response["Location"]).content.decode()
    assert "Syncing INBOX, Sent" in page or "syncing INBOX, Sent" in page
    assert mail_user.address in client.get(reverse("web:my_mailboxes")).content.decode()


def test_a_personal_mailbox_is_its_owners_alone(client, alice, dovecot, mail_user):
    connect_through(client, reverse("web:connect_mailbox"), _form(dovecot, mail_user))
    mailbox = Mailbox.objects.get()
    client = Client()  # a fresh browser: no message flashed to alice
    client.force_login(UserFactory(is_superuser=True, is_staff=True))
    assert mail_user.address not in client.get(reverse("web:mailboxes")).content.decode()
    assert mail_user.address not in client.get(reverse("web:my_mailboxes")).content.decode()
    assert client.get(reverse("web:my_mailbox", args=[mailbox.pk])).status_code == 404
    assert client.get(reverse("web:mailbox", args=[mailbox.pk])).status_code == 404


def test_the_owner_changes_what_mail_with_unknown_people_does(client, alice, dovecot, mail_user):
    connect_through(client, reverse("web:connect_mailbox"), _form(dovecot, mail_user))
    mailbox = Mailbox.objects.get()
    url = reverse("web:my_mailbox", args=[mailbox.pk])
    client.post(url, {"initial_days": 30, "unknown_people": "contact"})
    mailbox.refresh_from_db()
    assert (mailbox.crm_rule, mailbox.initial_days) == ("contact-deal", 30)
    response = client.post(url, {"initial_days": 0, "unknown_people": "everything"})
    assert response.status_code == 200 and b"Select a valid choice" in response.content
    mailbox.refresh_from_db()
    assert mailbox.crm_rule == "contact-deal"


def test_the_connect_page_needs_a_login(client):
    response = client.get(reverse("web:connect_mailbox"))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_profile_shows_the_tracker_address_and_regenerates_it(client, alice):
    response = client.get(reverse("web:profile"))
    address = personal.tracker_address_of(personal.tracker_for(alice))
    assert address in response.content.decode()
    assert b'id="copy-tracker"' in response.content
    assert client.get(reverse("web:tracker_regenerate")).status_code == 405
    client.post(reverse("web:tracker_regenerate"))
    new = personal.tracker_address_of(personal.tracker_for(alice))
    assert new != address
    assert new in client.get(reverse("web:profile")).content.decode()
    assert personal.find_tracker(address).refusal
