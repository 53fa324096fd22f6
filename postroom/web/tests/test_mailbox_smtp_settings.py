"""SMTP is part of a mailbox (issue 19, point 6): its Settings page edits the SMTP server,
port, security and login, and connecting a mailbox checks them too. A changed login is
saved only once a job has logged in with it (connect, EHLO, TLS, AUTH; nothing sent), and
a refusal shows the server's words. Against a real aiosmtpd server with AUTH."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import ConnectionCheck, Mailbox, MailboxGrant
from postroom.testing.connecting import run_jobs
from postroom.testing.dovecot import free_port
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.smtp import CapturingSMTPServer
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth_server():
    with CapturingSMTPServer(auth_credentials={"sender@acme.test": "right"}) as server:
        yield server


@pytest.fixture
def mailbox():
    return MailboxFactory(address="sales@acme.test", name="Sales", imap_security="ssl")


@pytest.fixture
def manager(mailbox):
    user = UserFactory(username="mia")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.MANAGE)
    return user


def _url(mailbox) -> str:
    return reverse("web:mailbox_settings", args=[mailbox.pk])


def _post(client, mailbox, **changes):
    """The form as its page shows it, with `changes` made; then the check's job is run
    and its page opened, as the browser does once it is over."""
    page = client.get(_url(mailbox))
    form = page.context["form"]
    data = {}
    for name, field in form.fields.items():
        value = form.initial.get(name, field.initial)
        if isinstance(value, bool):
            value = "on" if value else ""
        data[name] = "" if value is None else value
    data.update(changes)
    response = client.post(_url(mailbox), {k: v for k, v in data.items() if v != ""})
    if response.status_code == 302 and "/connect/checks/" in response["Location"]:
        run_jobs()
        return client.get(response["Location"])
    return response


def _smtp(server, **more) -> dict:
    return {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_security": "none",
        "smtp_username": "sender@acme.test",
        **more,
    }


def test_the_settings_page_offers_the_smtp_server_and_login(client, mailbox, manager):
    mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_security = "smtp.acme.test", 587, "starttls"
    mailbox.save()
    page = logged_in(manager).get(_url(mailbox))
    html = page.content.decode()
    for name in ("smtp_host", "smtp_port", "smtp_security", "smtp_username", "smtp_password"):
        assert f'name="{name}"' in html
    assert 'value="smtp.acme.test"' in html
    assert "POSTROOM_SMTP_HOST" not in html


def test_a_login_the_server_accepts_is_saved_encrypted(mailbox, manager, auth_server):
    response = _post(logged_in(manager), mailbox, **_smtp(auth_server, smtp_password="right"))
    assert response.status_code == 302 and response["Location"] == _url(mailbox)
    mailbox.refresh_from_db()
    assert (mailbox.smtp_host, mailbox.smtp_port) == (auth_server.host, auth_server.port)
    assert mailbox.smtp_login() == ("sender@acme.test", "right")
    assert "right" not in mailbox.smtp_password_encrypted
    check = ConnectionCheck.objects.get()
    assert check.status == "connected" and check.smtp_password_encrypted == ""
    assert auth_server.messages == [], "checking a login sends nothing"


def test_a_wrong_password_is_not_saved_and_the_server_says_why(mailbox, manager, auth_server):
    response = _post(logged_in(manager), mailbox, **_smtp(auth_server, smtp_password="wrong"))
    assert response.status_code == 200
    said = response.content.decode()
    assert "SMTP settings not saved" in said
    assert "535 5.7.8 Authentication credentials invalid" in said
    assert "Not connected" not in said, "the mailbox itself stays connected"
    mailbox.refresh_from_db()
    assert mailbox.smtp_host == "" and mailbox.smtp_password_encrypted == ""
    assert ConnectionCheck.objects.get().smtp_password_encrypted == ""


def test_a_dead_port_is_not_saved(mailbox, manager):
    port = free_port()
    changes = {"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_security": "none"}
    response = _post(logged_in(manager), mailbox, **changes)
    assert f"cannot connect to 127.0.0.1:{port}" in response.content.decode()
    mailbox.refresh_from_db()
    assert mailbox.smtp_host == ""


def test_a_server_without_a_port_is_refused_on_the_form(mailbox, manager):
    response = _post(logged_in(manager), mailbox, smtp_host="smtp.acme.test", smtp_security="ssl")
    assert response.status_code == 200
    assert response.context["form"].errors["smtp_port"]
    assert not ConnectionCheck.objects.exists()


def test_other_settings_save_without_a_check(mailbox, manager):
    response = _post(logged_in(manager), mailbox, name="Sales team")
    assert response.status_code == 302
    assert not ConnectionCheck.objects.exists()
    mailbox.refresh_from_db()
    assert mailbox.name == "Sales team"


def test_a_reader_cannot_change_the_smtp_settings(mailbox, auth_server):
    reader = UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.REPLY)
    client = logged_in(reader)
    response = client.post(_url(mailbox), _smtp(auth_server, smtp_password="right"))
    assert response.status_code in (403, 404)
    assert not ConnectionCheck.objects.exists()


def test_saving_needs_the_csrf_token(mailbox, manager, auth_server):
    client = logged_in(manager, enforce_csrf_checks=True)
    response = client.post(_url(mailbox), _smtp(auth_server, smtp_password="right"))
    assert response.status_code == 403
    assert not ConnectionCheck.objects.exists()


# ----------------------------------------------------------------- connecting


@pytest.fixture
def admin():
    return UserFactory(username="boss", is_superuser=True)


def _connect(admin, form: dict):
    client = logged_in(admin)
    response = client.post(reverse("web:connect_shared_mailbox"), form)
    assert response.status_code == 302, response.content
    run_jobs()
    return client.get(response["Location"])


def _ingress_only(server, **more) -> dict:
    return {
        "address": "info@acme.test",
        "ingress_only": "on",
        "crm_rule": "lead",
        "initial_days": 30,
        **_smtp(server),
        **more,
    }


def test_connecting_checks_the_smtp_login_before_saving(admin, auth_server):
    response = _connect(admin, _ingress_only(auth_server, smtp_password="wrong"))
    said = response.content.decode()
    assert "Not connected" in said and "535 5.7.8 Authentication credentials invalid" in said
    assert not Mailbox.objects.filter(address="info@acme.test").exists()

    response = _connect(admin, _ingress_only(auth_server, smtp_password="right"))
    mailbox = Mailbox.objects.get(address="info@acme.test")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:mailbox_access", args=[mailbox.pk])
    assert mailbox.smtp_login() == ("sender@acme.test", "right")


def test_connecting_with_imap_and_smtp_checks_both(admin, dovecot, mail_user, auth_server):
    form = {
        "address": mail_user.address,
        "name": "Support",
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_security": "none",
        "username": mail_user.username,
        "password": mail_user.password,
        "crm_rule": "lead",
        "initial_days": 30,
        **_smtp(auth_server, smtp_password="wrong"),
    }
    response = _connect(admin, form)
    assert "535 5.7.8" in response.content.decode()
    assert not Mailbox.objects.filter(address=mail_user.address).exists()
    response = _connect(admin, {**form, "smtp_password": "right"})
    mailbox = Mailbox.objects.get(address=mail_user.address)
    assert mailbox.get_password() == mail_user.password
    assert mailbox.smtp_login() == ("sender@acme.test", "right")
