"""The SMTP/LMTP ingress as a real server on loopback, spoken to by real clients."""

import logging
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from django.core.management import CommandError, call_command

from postroom import jobs
from postroom.crm.models import Activity, Lead
from postroom.mail import rawstore
from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.models import Folder, Mailbox
from postroom.sync import ingress as ingress_module
from postroom.sync.ingress import INGRESS_FOLDER, Ingress
from postroom.testing.dovecot import free_port
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import running, stop, wait_for

# Transactional: the server stores in its own threads, with their own connections, so
# the test's data must be committed for them to see it (and theirs for the test).
pytestmark = pytest.mark.django_db(transaction=True)

SIZE_LIMIT = 20_000
SENDER = "anna@customer.test"


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    """A real ingress, SMTP and LMTP, stopped after the test.

    Port 0: the ingress binds before it starts serving, so the OS picks a free port
    with no window for another process to take it.
    """
    with Ingress(
        smtp_bind="127.0.0.1:0", lmtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT
    ) as server:
        yield server


def smtp(ingress: Ingress) -> smtplib.SMTP:
    return smtplib.SMTP(*ingress.binds["smtp"], timeout=10)


def lmtp(ingress: Ingress) -> smtplib.LMTP:
    return smtplib.LMTP(*ingress.binds["lmtp"], timeout=10)


def test_it_accepts_mail_for_a_known_mailbox_and_the_pipeline_makes_a_lead(ingress, caplog):
    caplog.set_level(logging.INFO, logger="postroom.sync.ingress")
    mailbox = MailboxFactory()
    raw = make_email(sender=f"Anna Client <{SENDER}>", to=mailbox.address, body="Secret body")
    with smtp(ingress) as client:
        assert client.sendmail(SENDER, [mailbox.address], raw) == {}
    # "250" came after the commit: the copy is there without waiting.
    copy = MessageCopy.objects.select_related("folder").get(mailbox=mailbox)
    assert copy.uid == 1
    assert (copy.folder.name, copy.folder.role) == (INGRESS_FOLDER, Folder.Role.INBOX)
    assert not copy.folder.is_synced, "the IMAP sync must never touch the ingress folder"
    assert copy.folder.last_uid == 1
    jobs.drain_embedded_queue()
    lead = Lead.objects.get(email=SENDER)
    assert lead.source_mailbox == mailbox
    assert f"accepted a message from <{SENDER}> for <{mailbox.address}>" in caplog.text
    assert "Secret body" not in caplog.text, "a body must never be logged"


def test_it_matches_the_recipient_in_any_case(ingress):
    mailbox = MailboxFactory(address="Sales@Acme.test")
    with smtp(ingress) as client:
        client.sendmail(SENDER, ["SALES@ACME.TEST"], make_email(to="SALES@ACME.TEST"))
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 1


def test_it_rejects_an_unknown_recipient_at_rcpt(ingress, caplog):
    caplog.set_level(logging.INFO, logger="postroom.sync.ingress")
    MailboxFactory()
    with smtp(ingress) as client:
        client.ehlo()
        client.mail(SENDER)
        code, reply = client.rcpt("nobody@acme.test")
        assert (code, reply) == (550, b"5.1.1 <nobody@acme.test>: no such mailbox here")
        client.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail(SENDER, ["nobody@acme.test"], make_email(to="nobody@acme.test"))
    assert not Message.objects.exists()
    assert "rejected <nobody@acme.test>" in caplog.text


def test_it_refuses_a_message_over_the_size_limit_with_552(ingress):
    mailbox = MailboxFactory()
    big = make_email(to=mailbox.address, body="x" * 70 + ("\n" + "y" * 70) * 400)
    assert len(big) > SIZE_LIMIT
    with smtp(ingress) as client:
        client.ehlo()
        assert int(client.esmtp_features["size"]) == SIZE_LIMIT
        # A client that announces the size is refused before it sends the data...
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            client.sendmail(SENDER, [mailbox.address], big)
        assert refused.value.smtp_code == 552
        # ...one that does not is refused after it.
        client.rset()
        client.mail(SENDER)
        client.rcpt(mailbox.address)
        code, _ = client.data(big)
        assert code == 552
    assert not Message.objects.exists()


def test_it_stores_one_message_for_two_mailboxes(ingress):
    sales, support = MailboxFactory(), MailboxFactory()
    raw = make_email(sender=SENDER, to=f"{sales.address}, {support.address}")
    with smtp(ingress) as client:
        assert client.sendmail(SENDER, [sales.address, support.address], raw) == {}
    message = Message.objects.get()
    assert {copy.mailbox for copy in message.copies.all()} == {sales, support}
    jobs.drain_embedded_queue()
    assert Lead.objects.filter(email=SENDER).count() == 1
    assert Activity.objects.filter(message=message).count() == 1


def test_it_gives_each_delivery_its_own_uid_and_never_doubles_a_redelivery(ingress):
    mailbox = MailboxFactory()
    raw = make_email(sender=SENDER, to=mailbox.address)
    with smtp(ingress) as client:
        client.sendmail(SENDER, [mailbox.address], raw)
        # A sender that lost our 250 and retries: two deliveries, still one email.
        client.sendmail(SENDER, [mailbox.address], raw)
    copies = MessageCopy.objects.filter(mailbox=mailbox).order_by("uid")
    assert [copy.uid for copy in copies] == [1, 2]
    assert Message.objects.count() == 1
    jobs.drain_embedded_queue()
    assert Lead.objects.filter(email=SENDER).count() == 1
    assert Activity.objects.count() == 1


def test_it_stores_the_bytes_exactly_as_received(ingress):
    mailbox = MailboxFactory()
    # A dot-stuffed line, 8-bit UTF-8 and a line far over RFC 5321's 1000 octets: all
    # kept byte for byte, not refused, not re-encoded.
    raw = (
        b"From: Anna <anna@customer.test>\r\nTo: " + mailbox.address.encode() + b"\r\n"
        b"Subject: Faithful\r\nMessage-ID: <faithful@customer.test>\r\n"
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        b".a line that starts with a dot\r\n"
        b"Gr\xc3\xbc\xc3\x9fe\r\n" + b"<p>" + b"w" * 5000 + b"</p>\r\n"
    )
    with smtp(ingress) as client:
        client.sendmail(SENDER, [mailbox.address], raw)
    assert rawstore.get(Message.objects.get().raw_sha256) == raw


def test_it_answers_451_and_stores_nothing_when_storing_fails(ingress, monkeypatch, caplog):
    mailbox = MailboxFactory()
    with smtp(ingress) as client:
        client.sendmail(SENDER, [mailbox.address], make_email(to=mailbox.address))  # uid 1

        def broken_store(*args, **kwargs):
            raise OSError("disk full")

        with monkeypatch.context() as patch:
            patch.setattr(ingress_module, "store_copy", broken_store)
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.sendmail(SENDER, [mailbox.address], make_email(to=mailbox.address))
        assert (failed.value.smtp_code, failed.value.smtp_error) == (
            451,
            b"4.3.0 temporary failure, try again",
        )
        assert "disk full" in caplog.text
        # The transaction rolled back, so the UID was not spent: the retry gets it.
        client.sendmail(SENDER, [mailbox.address], make_email(to=mailbox.address))
    assert [copy.uid for copy in MessageCopy.objects.order_by("uid")] == [1, 2]


def test_lmtp_answers_per_recipient(ingress):
    sales, support = MailboxFactory(), MailboxFactory()
    with lmtp(ingress) as client:
        client.ehlo()  # LHLO
        client.mail(SENDER)
        assert client.rcpt(sales.address)[0] == 250
        assert client.rcpt("nobody@acme.test")[0] == 550
        assert client.rcpt(support.address)[0] == 250
        # Deleted between RCPT and DATA: only this recipient fails; sales is stored.
        Mailbox.objects.filter(pk=support.pk).delete()
        first = client.data(make_email(to=sales.address))
        second = client.getreply()  # smtplib reads one reply; LMTP sends one per RCPT
    assert first == (250, f"2.0.0 <{sales.address}> OK: stored".encode())
    assert second == (550, f"5.1.1 <{support.address}>: no such mailbox here".encode())
    assert MessageCopy.objects.get().mailbox == sales


def test_smtp_asks_for_a_retry_when_a_recipient_vanished_before_data(ingress):
    sales, support = MailboxFactory(), MailboxFactory()
    with smtp(ingress) as client:
        client.ehlo()
        client.mail(SENDER)
        client.rcpt(sales.address)
        client.rcpt(support.address)
        Mailbox.objects.filter(pk=support.pk).delete()
        # One reply covers all recipients: never 250 for mail that went nowhere. The
        # retry is refused at RCPT for support@ (a bounce), stored again for sales@.
        assert client.data(make_email(to=sales.address))[0] == 451


def test_stopping_lets_a_delivery_in_progress_commit_and_get_its_250(monkeypatch):
    mailbox = MailboxFactory()
    storing = threading.Event()
    real_store = ingress_module.store_delivery

    def slow_store(*args, **kwargs):
        storing.set()
        time.sleep(0.5)
        return real_store(*args, **kwargs)

    monkeypatch.setattr(ingress_module, "store_delivery", slow_store)
    refused: list[dict] = []
    server = Ingress(smtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT).start()
    try:

        def send() -> None:
            with smtp(server) as client:
                refused.append(client.sendmail(SENDER, [mailbox.address], make_email()))

        sender = threading.Thread(target=send)
        sender.start()
        assert storing.wait(10), "the delivery never reached the store"
        server.stop()  # what SIGTERM does, mid-delivery
        sender.join(10)
    finally:
        server.stop()
    assert refused == [{}], "the sender must get its 250"
    assert MessageCopy.objects.filter(mailbox=mailbox).exists()


def test_swaks_delivers(ingress):
    swaks = shutil.which("swaks")
    if swaks is None:
        message = "swaks is not installed (Debian package swaks)"
        pytest.fail(message) if os.environ.get("CI") == "true" else pytest.skip(message)
    mailbox = MailboxFactory()
    host, port = ingress.binds["smtp"]
    result = subprocess.run(
        [swaks, "--server", host, "--port", str(port), "--to", mailbox.address,
         "--from", "x@y.test", "--header", "Subject: hi", "--body", "Trying Postroom"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    jobs.drain_embedded_queue()
    assert Message.objects.get(copies__mailbox=mailbox).subject == "hi"


def test_the_ingress_command_serves_until_sigterm_and_stops_cleanly(live_env, tmp_path):
    mailbox = MailboxFactory()
    port = free_port()
    log = tmp_path / "ingress.log"
    args = ["ingress", "--bind", f"127.0.0.1:{port}", "--lmtp-bind", ""]
    with running(args, live_env, log) as proc:

        def listening() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except OSError:
                return False
            return True

        wait_for(listening, 60, "the ingress to listen")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
            client.sendmail(SENDER, [mailbox.address], make_email(to=mailbox.address))
        assert MessageCopy.objects.filter(mailbox=mailbox).exists()
        assert stop(proc, signal.SIGTERM) == 0, log.read_text()
    assert "ingress stopped" in log.read_text()


def test_the_ingress_command_names_a_port_it_cannot_listen_on(ingress):
    host, port = ingress.binds["smtp"]
    with pytest.raises(CommandError, match=f"cannot listen for SMTP on {host}:{port}"):
        call_command("ingress", "--bind", f"{host}:{port}", "--lmtp-bind", "")
    with pytest.raises(CommandError, match="not HOST:PORT"):
        call_command("ingress", "--bind", "localhost", "--lmtp-bind", "")
