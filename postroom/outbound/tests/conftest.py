"""Outbound tests send through a real SMTP server (aiosmtpd) and save to a real Dovecot."""

import imaplib
import itertools
import socket
import threading

import pytest

from postroom import jobs
from postroom.accounts.roles import do_give_default_roles
from postroom.crm.capture import capture_message
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

_uids = itertools.count(1)


@pytest.fixture
def mailbox():
    """A shared mailbox whose SMTP nothing listens on: for tests that never send."""
    return MailboxFactory(
        address="sales@acme.test",
        name="Sales",
        smtp_host="127.0.0.1",
        smtp_port=2525,
        smtp_security="none",
    )


@pytest.fixture
def sales(dovecot_mailbox, smtp_server):
    """The Dovecot mailbox, sending through the capturing SMTP server (no TLS, no AUTH)."""
    dovecot_mailbox.smtp_host = smtp_server.host
    dovecot_mailbox.smtp_port = smtp_server.port
    dovecot_mailbox.smtp_security = "none"
    dovecot_mailbox.save()
    return dovecot_mailbox


@pytest.fixture
def alice(sales):
    """A colleague who may reply from the sales mailbox."""
    user = UserFactory(
        username="alice", first_name="Alice", last_name="Smith", email="alice@acme.test"
    )
    do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    do_give_default_roles(user)  # a Manager, as every new user: reads their own CRM items
    return user


@pytest.fixture(autouse=True)
def no_undo_window(settings):
    """Emails go out at once; the undo-send tests set a window themselves."""
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}


@pytest.fixture
def fast_retries(settings):
    """Retries without waiting, so that one run of the job runner sees them through."""
    settings.POSTROOM = {**settings.POSTROOM, "SEND_RETRY_BASE": 0}


def receive(mailbox, raw: bytes = b"", **email) -> Message:
    """An email that arrived in the mailbox, stored, threaded and in the CRM as sync does it."""
    copy = store_copy(
        mailbox.folders.get(name="INBOX"),
        1,
        FetchedMessage(uid=next(_uids), raw=raw or make_email(**email)),
    )
    message = parse_stored(copy.message)
    thread_message(message, mailbox)
    capture_message(message, mailbox)
    return message


def run_jobs() -> None:
    """Run every job that is due on the embedded queue, then return (no start-up delay)."""
    jobs.drain_embedded_queue()


class ImapClient:
    """Another mail client of the mailbox's user, to look at its folders on the server."""

    def __init__(self, dovecot, mail_user) -> None:
        self.conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
        self.conn.login(mail_user.username, mail_user.password)

    def find(self, folder: str, message_id: str) -> list[int]:
        self.conn.select(f'"{folder}"', readonly=True)
        typ, data = self.conn.uid("SEARCH", None, f'HEADER Message-ID "<{message_id}>"')
        assert typ == "OK"
        return [int(uid) for uid in data[0].split()]

    def close(self) -> None:
        self.conn.logout()


@pytest.fixture
def imap_client(dovecot, mail_user):
    client = ImapClient(dovecot, mail_user)
    yield client
    client.close()


class SilentAfterData:
    """An SMTP server that takes the message's data and hangs up without a reply: the
    sender cannot know whether the email was taken."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 silent.test ESMTP\r\n")
            for line in lines:
                verb = line[:4].upper()
                if verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    for data in lines:
                        if data == b".\r\n":
                            return  # hang up instead of answering 250
                elif verb in (b"EHLO", b"HELO", b"MAIL", b"RCPT"):
                    conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.sock.close()
