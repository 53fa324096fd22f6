"""Checking a mailbox's SMTP login (postroom.mailboxes.smtp_login) against a real SMTP
server (aiosmtpd) that requires AUTH: nothing is sent, a refusal is said in the server's
own words, a dead port and a port that is not SMTP are told apart."""

import pytest

from postroom.mailboxes.smtp_login import (
    SmtpSettings,
    SmtpSettingsError,
    check_smtp_login,
    do_save_smtp,
    effective_login,
)
from postroom.testing.connecting import listening
from postroom.testing.dovecot import free_port
from postroom.testing.factories import MailboxFactory
from postroom.testing.smtp import CapturingSMTPServer


@pytest.fixture
def auth_server():
    with CapturingSMTPServer(auth_credentials={"sales@acme.test": "right"}) as server:
        yield server


def test_the_right_password_is_accepted_and_nothing_is_sent(auth_server):
    assert (
        check_smtp_login(auth_server.host, auth_server.port, "none", "sales@acme.test", "right")
        == ""
    )
    assert auth_server.messages == []


def test_a_wrong_password_is_refused_in_the_servers_words(auth_server):
    said = check_smtp_login(auth_server.host, auth_server.port, "none", "sales@acme.test", "wrong")
    assert "refused the login of sales@acme.test" in said
    assert "535 5.7.8 Authentication credentials invalid" in said


def test_a_dead_port_says_it_cannot_connect():
    port = free_port()
    said = check_smtp_login("127.0.0.1", port, "none", "sales@acme.test", "right")
    assert f"cannot connect to 127.0.0.1:{port}" in said


def test_a_port_that_is_not_smtp_is_not_repeated():
    with listening(b"* OK IMAP4rev1 secret banner\r\n") as imap_like:
        said = check_smtp_login("127.0.0.1", imap_like.port, "none", "u", "p")
    assert "did not answer as an SMTP server" in said
    assert "secret banner" not in said


def test_starttls_is_required_when_chosen(auth_server):
    said = check_smtp_login(
        auth_server.host, auth_server.port, "starttls", "sales@acme.test", "right"
    )
    assert "does not offer STARTTLS" in said


@pytest.mark.django_db
def test_saving_keeps_the_password_encrypted_and_empty_keeps_it():
    mailbox = MailboxFactory(address="sales@acme.test")
    choice = SmtpSettings("smtp.acme.test", 587, "starttls", "sender", "s3cret")
    do_save_smtp(mailbox, choice, acting_user=None)
    mailbox.refresh_from_db()
    assert mailbox.smtp_login() == ("sender", "s3cret")
    assert "s3cret" not in mailbox.smtp_password_encrypted
    # An empty password field leaves the saved one as it is.
    do_save_smtp(mailbox, SmtpSettings("smtp.acme.test", 465, "ssl", "sender"), acting_user=None)
    mailbox.refresh_from_db()
    assert (mailbox.smtp_port, mailbox.smtp_login()) == (465, ("sender", "s3cret"))
    assert effective_login(mailbox, SmtpSettings("h", 1, "none")) == ("sales@acme.test", "s3cret")


@pytest.mark.django_db
def test_without_its_own_login_a_mailbox_sends_with_the_imap_one():
    mailbox = MailboxFactory(address="sales@acme.test")  # IMAP password "secret"
    assert mailbox.smtp_login() == ("sales@acme.test", "secret")


@pytest.mark.django_db
def test_a_server_without_a_port_is_refused():
    mailbox = MailboxFactory()
    with pytest.raises(SmtpSettingsError, match="needs a port"):
        do_save_smtp(mailbox, SmtpSettings("smtp.acme.test", None, "ssl"), acting_user=None)
