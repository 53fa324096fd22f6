"""The test Dovecot really serves IMAP and LMTP the way Postroom's tests rely on."""

# Fixtures imported by name come back as test arguments of the same name.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt
import imaplib
import smtplib
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from imap_tools import MailBoxUnencrypted
from imap_tools.errors import MailboxLoginError

from postroom.testing.dovecot import Dovecot, free_port
from postroom.testing.fixtures import MailUser, dovecot, mail_user, smtp_server  # noqa: F401


def make_message(subject: str, body: str = "Hello.") -> bytes:
    return (
        f"From: Sender <sender@example.test>\r\n"
        f"To: someone@example.test\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@example.test>\r\n"
        f"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
        f"\r\n"
        f"{body}\r\n"
    ).encode()


def login(server: Dovecot, username: str, password: str) -> MailBoxUnencrypted:
    return MailBoxUnencrypted(server.host, server.imap_port, timeout=10).login(username, password)


def subjects(server: Dovecot, user: MailUser, folder: str = "INBOX") -> list[str]:
    with login(server, user.username, user.password) as mailbox:
        mailbox.folder.set(folder)
        return [msg.subject for msg in mailbox.fetch(mark_seen=False)]


def process_gone(pid: int) -> bool:
    """Gone, or a zombie that init has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def port_closed(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.fixture
def own_dovecot() -> Iterator[Dovecot]:
    """A Dovecot of the test's own, for tests that restart or stop it."""
    with Dovecot.start() as server:
        yield server


def test_it_delivers_by_lmtp_to_the_inbox(dovecot: Dovecot, mail_user: MailUser) -> None:
    dovecot.deliver(make_message("Delivered by LMTP"), to=mail_user.address)

    assert subjects(dovecot, mail_user) == ["Delivered by LMTP"]


def test_it_refuses_lmtp_delivery_to_an_unknown_user(dovecot: Dovecot) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        dovecot.deliver(make_message("Nobody"), to="nobody-here@example.test")


def test_append_returns_increasing_uids(dovecot: Dovecot, mail_user: MailUser) -> None:
    uids = [
        dovecot.append(mail_user.username, mail_user.password, make_message(f"Message {n}"))
        for n in range(3)
    ]

    assert uids[0] < uids[1] < uids[2]
    with login(dovecot, mail_user.username, mail_user.password) as mailbox:
        fetched = {int(msg.uid): msg.subject for msg in mailbox.fetch(mark_seen=False)}
    assert fetched == {uid: f"Message {n}" for n, uid in enumerate(uids)}


def test_append_stores_the_flags_and_date_in_the_given_folder(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    date = dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.UTC)

    uid = dovecot.append(
        mail_user.username,
        mail_user.password,
        make_message("Sent earlier"),
        folder="Sent",
        flags=("\\Seen", "\\Flagged"),
        date=date,
    )

    with login(dovecot, mail_user.username, mail_user.password) as mailbox:
        mailbox.folder.set("Sent")
        (msg,) = mailbox.fetch(mark_seen=False)
        typ, data = mailbox.client.uid("FETCH", str(uid), "(INTERNALDATE)")
    assert msg.subject == "Sent earlier"
    assert {"\\Seen", "\\Flagged"} <= set(msg.flags)
    assert typ == "OK"
    internal = imaplib.Internaldate2tuple(data[0])
    assert internal is not None
    assert time.mktime(internal) == date.timestamp()


def test_it_lists_and_subscribes_the_special_use_folders(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    with login(dovecot, mail_user.username, mail_user.password) as mailbox:
        folders = {f.name: set(f.flags) for f in mailbox.folder.list()}
        subscribed = {f.name for f in mailbox.folder.list(subscribed_only=True)}

    for name in ("Sent", "Drafts", "Junk", "Trash", "Archive"):
        assert f"\\{name}" in folders[name]
        assert name in subscribed
    assert "INBOX" in folders


def test_it_advertises_idle_condstore_and_qresync(dovecot: Dovecot, mail_user: MailUser) -> None:
    with login(dovecot, mail_user.username, mail_user.password) as mailbox:
        # imaplib keeps the pre-login list; Dovecot shows the full one after login.
        typ, data = mailbox.client.capability()
    capabilities = set(data[0].decode().split())

    assert {"IDLE", "CONDSTORE", "QRESYNC", "UIDPLUS", "LITERAL+"} <= capabilities


def test_it_rejects_a_wrong_password(dovecot: Dovecot, mail_user: MailUser) -> None:
    # Dovecot delays a failed login by auth_failure_delay (2 s): this test is slow on purpose.
    with pytest.raises(MailboxLoginError):
        login(dovecot, mail_user.username, mail_user.password + "-wrong")


def test_users_added_back_to_back_can_log_in_at_once(dovecot: Dovecot) -> None:
    # The second write lands in the second of the first one's re-read: add_user must wait.
    names = [f"back-to-back-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        dovecot.add_user(name, f"pw-{name}")

    for name in names:
        with login(dovecot, name, f"pw-{name}") as mailbox:
            assert mailbox.folder.get() == "INBOX"


def test_add_users_makes_a_whole_batch_visible_at_once(dovecot: Dovecot) -> None:
    users = {f"batch-{uuid.uuid4().hex[:8]}": f"pw-{n}" for n in range(5)}

    dovecot.add_users(users)

    for name, password in users.items():
        with login(dovecot, name, password) as mailbox:
            assert mailbox.folder.get() == "INBOX"
    assert users.items() <= dovecot.users.items()


def test_a_changed_password_of_the_same_length_takes_effect(
    dovecot: Dovecot, mail_user: MailUser
) -> None:
    new_password = "x" * len(mail_user.password)

    dovecot.add_user(mail_user.username, new_password)

    with login(dovecot, mail_user.username, new_password) as mailbox:
        assert mailbox.folder.get() == "INBOX"


def test_one_user_can_hold_many_connections(dovecot: Dovecot, mail_user: MailUser) -> None:
    # Dovecot's default mail_max_userip_connections is 10.
    with ExitStack() as stack:
        mailboxes = [
            stack.enter_context(login(dovecot, mail_user.username, mail_user.password))
            for _ in range(15)
        ]
        assert all(mailbox.folder.get() == "INBOX" for mailbox in mailboxes)


def test_an_idling_client_is_told_about_a_delivery(dovecot: Dovecot, mail_user: MailUser) -> None:
    with login(dovecot, mail_user.username, mail_user.password) as mailbox:
        mailbox.idle.start()
        try:
            dovecot.deliver(make_message("Pushed"), to=mail_user.address)
            responses: list[bytes] = []
            deadline = time.monotonic() + 5
            while not any(b"EXISTS" in r for r in responses) and time.monotonic() < deadline:
                responses += mailbox.idle.poll(timeout=1)
        finally:
            mailbox.idle.stop()

    assert any(r.endswith(b" 1 EXISTS") for r in responses), responses


def test_restart_keeps_the_mail_the_users_and_the_ports(own_dovecot: Dovecot) -> None:
    own_dovecot.add_user("keeper", "keeper-pw")
    own_dovecot.deliver(make_message("Before the restart"), to="keeper@example.test")
    ports, old_pid = (own_dovecot.imap_port, own_dovecot.lmtp_port), own_dovecot.pid
    connected = login(own_dovecot, "keeper", "keeper-pw")

    own_dovecot.restart()

    assert (own_dovecot.imap_port, own_dovecot.lmtp_port) == ports
    assert own_dovecot.pid is not None and own_dovecot.pid != old_pid
    # Connections open across the restart are dropped: clients have to reconnect.
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        connected.client.noop()
    with login(own_dovecot, "keeper", "keeper-pw") as mailbox:
        assert [msg.subject for msg in mailbox.fetch(mark_seen=False)] == ["Before the restart"]


def test_stop_ends_its_processes_and_removes_its_own_directory() -> None:
    server = Dovecot.start()
    pid, directory, port = server.pid, server.dir, server.imap_port
    assert pid is not None and directory.is_dir()

    server.stop()

    assert server.pid is None
    assert process_gone(pid)
    assert not directory.exists()
    assert port_closed(port)


def test_a_given_directory_is_left_in_place_and_can_be_reused(tmp_path: Path) -> None:
    # pytest's tmp_path sits in 0700 directories and is long: both must be coped with.
    directory = tmp_path / "a-rather-long-directory-name-for-the-dovecot-instance"
    with Dovecot.start(directory) as server:
        server.add_user("local", "local-pw")
        server.deliver(make_message("In a given directory"), to="local@example.test")
        assert server.dir == directory.resolve()
    assert (directory / "mail" / "local" / "Maildir").is_dir()
    assert port_closed(server.imap_port)

    with Dovecot.start(directory) as again, login(again, "local", "local-pw") as mailbox:
        assert [msg.subject for msg in mailbox.fetch()] == ["In a given directory"]


def test_free_port_returns_a_port_that_can_be_bound() -> None:
    port = free_port()

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
