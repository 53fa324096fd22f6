"""Sync against a real Dovecot."""

import socket
import threading

import pytest

from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap
from postroom.sync.service import server_of, sync_mailbox
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def test_it_fetches_new_mail_and_moves_the_cursor(dovecot, mail_user, dovecot_mailbox):
    dovecot.deliver(make_email(subject="First"), to=mail_user.address)
    dovecot.deliver(make_email(subject="Second"), to=mail_user.address)
    summary = sync_mailbox(dovecot_mailbox)
    assert (summary.fetched, summary.new) == (2, 2)
    inbox = dovecot_mailbox.folders.get()
    assert inbox.last_uid == 2 and inbox.uidvalidity
    dovecot_mailbox.refresh_from_db()
    assert dovecot_mailbox.status == Mailbox.Status.OK


def test_it_fetches_nothing_twice(dovecot, mail_user, dovecot_mailbox):
    dovecot.deliver(make_email(), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    assert sync_mailbox(dovecot_mailbox).fetched == 0
    assert MessageCopy.objects.count() == 1


def test_it_keeps_flags_and_the_server_time(dovecot, mail_user, dovecot_mailbox):
    dovecot.append(mail_user.username, mail_user.password, make_email(), flags=("\\Seen",))
    sync_mailbox(dovecot_mailbox)
    copy = MessageCopy.objects.get()
    assert copy.is_seen and "\\Seen" in copy.flags
    assert copy.internal_date is not None


def test_it_does_not_mark_mail_as_read_on_the_server(dovecot, mail_user, dovecot_mailbox):
    dovecot.deliver(make_email(), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    with imap.connect(server_of(dovecot_mailbox)) as client:
        imap.select(client, "INBOX")
        typ, data = client.client.uid("SEARCH", None, "UNSEEN")
    assert data[0].split() == [b"1"]


def test_it_resyncs_a_changed_uidvalidity_without_duplicates(dovecot, mail_user, dovecot_mailbox):
    dovecot.deliver(make_email(), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    inbox = dovecot_mailbox.folders.get()
    inbox.uidvalidity = 1  # as if the server had renumbered the folder since
    inbox.save()
    summary = sync_mailbox(dovecot_mailbox)
    assert (summary.fetched, summary.new) == (1, 0)
    assert Message.objects.count() == 1


def test_it_stores_mail_it_cannot_parse(dovecot, mail_user, dovecot_mailbox):
    dovecot.append(mail_user.username, mail_user.password, b"\x00\x01 not an email \xff")
    assert sync_mailbox(dovecot_mailbox).new == 1
    assert Message.objects.get().raw_size > 0


def test_it_reports_a_wrong_password(dovecot, dovecot_mailbox):
    dovecot_mailbox.set_password("wrong")
    dovecot_mailbox.save()
    with pytest.raises(imap.AuthFailed, match="refused the login"):
        sync_mailbox(dovecot_mailbox)
    dovecot_mailbox.refresh_from_db()
    assert dovecot_mailbox.status == Mailbox.Status.AUTH_FAILED
    assert "wrong" not in dovecot_mailbox.status_message  # the password is never echoed


def test_it_reports_a_closed_port(dovecot_mailbox):
    from postroom.testing.dovecot import free_port

    dovecot_mailbox.imap_port = free_port()
    dovecot_mailbox.save()
    with pytest.raises(imap.Unreachable, match="cannot connect"):
        sync_mailbox(dovecot_mailbox)
    dovecot_mailbox.refresh_from_db()
    assert dovecot_mailbox.status == Mailbox.Status.UNREACHABLE


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_it_gives_up_on_a_server_that_never_answers(settings, dovecot_mailbox, silent_server):
    settings.POSTROOM = {**settings.POSTROOM, "IMAP_TIMEOUT": 1.0}
    dovecot_mailbox.imap_port = silent_server
    dovecot_mailbox.save()
    with pytest.raises(imap.Unreachable, match="did not answer within 1 s"):
        sync_mailbox(dovecot_mailbox)
