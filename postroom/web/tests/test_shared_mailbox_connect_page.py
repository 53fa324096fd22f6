"""An administrator connects a shared mailbox in the browser's form, against the real
Dovecot: Postroom logs in before it saves, reads the folders, and the mailbox syncs;
anything wrong saves nothing and says what the server said."""

import logging

import pytest
from django.urls import reverse

from postroom.mail.models import Message
from postroom.mailboxes.models import Mailbox
from postroom.sync.service import sync_mailbox
from postroom.testing.dovecot import free_port
from postroom.testing.factories import SmartTypeFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

URL = reverse("web:connect_shared_mailbox")


@pytest.fixture
def admin():
    return UserFactory(username="boss", is_superuser=True)


def _form(dovecot, mail_user, **changes) -> dict:
    form = {
        "address": mail_user.address,
        "name": "Support",
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_security": "none",
        "username": mail_user.username,
        "password": mail_user.password,
        "crm_rule": "lead",
        "initial_days": "90",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_a_connected_mailbox_reads_its_folders_and_syncs(dovecot, mail_user, admin, caplog):
    SmartTypeFactory(name="Support Request", slug="support-request")
    dovecot.deliver(make_email(subject="Already waiting"), to=mail_user.address)

    with caplog.at_level(logging.DEBUG):
        response = logged_in(admin).post(
            URL, _form(dovecot, mail_user, crm_rule="smart:support-request")
        )

    mailbox = Mailbox.objects.get(address=mail_user.address)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:mailbox_access", args=[mailbox.pk])
    assert mailbox.kind == Mailbox.Kind.SHARED and mailbox.name == "Support"
    assert (mailbox.crm_rule, mailbox.crm_smart_type) == ("smart", "support-request")
    assert mailbox.initial_days == 90
    assert mailbox.get_password() == mail_user.password
    assert mail_user.password not in mailbox.password_encrypted
    assert mail_user.password not in caplog.text, "the password is never logged"
    assert {"INBOX", "Sent"} <= set(
        mailbox.folders.filter(is_synced=True).values_list("name", flat=True)
    )
    assert sync_mailbox(mailbox).new == 1
    assert Message.objects.filter(copies__mailbox=mailbox).count() == 1


def test_a_wrong_password_saves_nothing_and_says_the_server_refused(dovecot, mail_user, admin):
    response = logged_in(admin).post(URL, _form(dovecot, mail_user, password="wrong"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Not connected" in page and "refused the login" in page
    assert 'value="wrong"' not in page, "a password is never echoed back"
    assert not Mailbox.objects.exists()


def test_an_unreachable_server_saves_nothing(dovecot, mail_user, admin):
    closed = free_port()

    response = logged_in(admin).post(URL, _form(dovecot, mail_user, imap_port=closed))

    assert f"cannot connect to {dovecot.host}:{closed}" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_no_silent_downgrade_when_the_server_offers_no_starttls(dovecot, mail_user, admin):
    response = logged_in(admin).post(URL, _form(dovecot, mail_user, imap_security="starttls"))

    assert "does not offer STARTTLS" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_a_mailbox_fed_by_the_ingress_needs_no_imap_server(admin):
    response = logged_in(admin).post(
        URL,
        {"address": "info@acme.test", "ingress_only": "on", "crm_rule": "lead", "initial_days": 30},
    )

    assert response.status_code == 302
    mailbox = Mailbox.objects.get(address="info@acme.test")
    assert not mailbox.has_imap and mailbox.name == "info@acme.test"


def test_an_address_connected_already_is_refused(dovecot, mail_user, admin):
    client = logged_in(admin)
    client.post(URL, _form(dovecot, mail_user))

    response = client.post(URL, _form(dovecot, mail_user, name="Again"))

    assert "already connected" in response.content.decode()
    assert Mailbox.objects.get().name == "Support"


@pytest.mark.parametrize(
    "changes",
    [
        {"address": "not an address"},
        {"imap_port": "0"},
        {"imap_port": "70000"},
        {"imap_security": "plaintext-please"},
        {"crm_rule": "smart:no-such-type"},
        {"initial_days": "0"},
        {"imap_host": None},
    ],
)
def test_bad_input_is_refused_before_any_login(dovecot, mail_user, admin, changes):
    response = logged_in(admin).post(URL, _form(dovecot, mail_user, **changes))

    assert response.status_code == 200 and response.context["form"].errors
    assert not Mailbox.objects.exists()


def test_only_an_administrator_connects_a_shared_mailbox(dovecot, mail_user):
    client = logged_in(UserFactory())

    assert client.get(URL).status_code == 403
    assert client.post(URL, _form(dovecot, mail_user)).status_code == 403
    assert not Mailbox.objects.exists()


def test_the_mailbox_list_offers_the_page_to_administrators_only(admin):
    link = f'href="{URL}"'
    assert link in logged_in(admin).get(reverse("web:mailboxes")).content.decode()
    assert link not in logged_in(UserFactory()).get(reverse("web:mailboxes")).content.decode()
