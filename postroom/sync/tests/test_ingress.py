"""The SMTP/LMTP ingress as a real server on loopback, spoken to by real clients."""

import logging
import os
import re
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import threading
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
from postroom.testing.tls import write_self_signed

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
    storing, release = threading.Event(), threading.Event()
    real_store = ingress_module.store_delivery

    def held_store(*args, **kwargs):
        storing.set()
        release.wait(30)  # held until the test has seen the stop begin
        return real_store(*args, **kwargs)

    monkeypatch.setattr(ingress_module, "store_delivery", held_store)
    refused: list[dict] = []
    server = Ingress(smtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT).start()
    host, port = server.binds["smtp"]
    try:

        def send() -> None:
            with smtp(server) as client:
                refused.append(client.sendmail(SENDER, [mailbox.address], make_email()))

        sender = threading.Thread(target=send)
        sender.start()
        assert storing.wait(10), "the delivery never reached the store"
        stopper = threading.Thread(target=server.stop)  # what SIGTERM does, mid-delivery
        stopper.start()
        wait_for(lambda: not _accepts(host, port), 10, "the ingress to stop listening")
        release.set()
        sender.join(10)
        stopper.join(30)
    finally:
        release.set()
        server.stop()
    assert refused == [{}], "the sender must get its 250"
    assert MessageCopy.objects.filter(mailbox=mailbox).exists()


def _accepts(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        return False
    return True


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


# ------------------------------------------------- hardening (issue 18, parts 5 and 6)


class Wire:
    """A bare SMTP client on a socket: what smtplib hides (pipelining, the exact replies,
    a sender that trickles) is said and read line by line."""

    def __init__(self, address: tuple[str, int], timeout: float = 10) -> None:
        self.sock = socket.create_connection(address, timeout=timeout)
        self.file = self.sock.makefile("rb")

    def reply(self) -> list[bytes]:
        """One reply's lines; [] when the server closed the connection."""
        lines = []
        while True:
            line = self.file.readline()
            if not line:
                return lines
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                return lines

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def say(self, command: str) -> list[bytes]:
        self.send(command.encode() + b"\r\n")
        return self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()


@pytest.fixture
def wires() -> Iterator[list[Wire]]:
    opened: list[Wire] = []
    yield opened
    for wire in opened:
        wire.close()


def test_it_refuses_connections_beyond_the_cap_with_421_and_takes_one_again_when_one_ends(
    wires, caplog
):
    with Ingress(smtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT, max_connections=2) as server:
        for _ in range(2):
            wires.append(Wire(server.binds["smtp"]))
            assert wires[-1].reply()[0].startswith(b"220 ")
        third = Wire(server.binds["smtp"])
        wires.append(third)
        (refusal,) = third.reply()
        assert refusal.startswith(b"421 4.7.0 ") and b"too many connections" in refusal
        assert third.reply() == [], "the refused connection is closed"
        assert "2 connections already open" in caplog.text
        assert wires[0].say("QUIT")[0].startswith(b"221 2.0.0")
        wait_for(lambda: server.open_connections == 1, 10, "the ended connection to count")
        fourth = Wire(server.binds["smtp"])
        wires.append(fourth)
        assert fourth.reply()[0].startswith(b"220 ")


def test_it_ends_a_data_phase_that_outlasts_its_deadline_however_steadily_it_trickles(wires):
    mailbox = MailboxFactory()
    with Ingress(
        smtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT, idle_timeout=5, data_timeout=1
    ) as server:
        wire = Wire(server.binds["smtp"])
        wires.append(wire)
        wire.reply()
        wire.say("EHLO client.test")
        wire.say(f"MAIL FROM:<{SENDER}>")
        wire.say(f"RCPT TO:<{mailbox.address}>")
        assert wire.say("DATA")[0].startswith(b"354")
        wire.send(b"Subject: slow\r\n\r\n")
        # A line every 0.1 s: never idle, but the whole of DATA is bounded. Sent until
        # the server answers (at most 100 lines: the test never waits for ever).
        answer: list[bytes] = []
        for _ in range(100):
            try:
                wire.send(b"a slow line\r\n")
            except OSError:
                break
            readable, _, _ = select.select([wire.sock], [], [], 0.1)
            if readable:
                answer = wire.reply()
                break
        assert answer and answer[0].startswith(b"421 4.4.2 "), answer
        assert b"took more than 1 s" in answer[0]
        assert wire.reply() == [], "the connection is closed after the 421"
    assert not MessageCopy.objects.exists()


def test_it_says_421_before_it_closes_an_idle_connection(wires):
    with Ingress(smtp_bind="127.0.0.1:0", max_message_size=SIZE_LIMIT, idle_timeout=0.5) as server:
        wire = Wire(server.binds["smtp"])
        wires.append(wire)
        wire.reply()
        (goodbye,) = wire.reply()  # nothing said: the server speaks last
        assert goodbye.startswith(b"421 4.4.2 ") and b"idle" in goodbye
        assert wire.reply() == []


def _spooled_files(spool_dir) -> list[str]:
    """This process's open files in the spool directory (the ingress runs in it)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool_dir)):
            found.append(target)
    return found


def test_it_writes_a_big_message_to_a_file_in_the_data_directory_as_it_arrives(wires, tmp_path):
    mailbox = MailboxFactory()
    spool_dir = tmp_path / "spool"
    line = b"0123456789" * 7 + b"\r\n"
    head = (
        b"From: Anna <anna@customer.test>\r\nTo: " + mailbox.address.encode() + b"\r\n"
        b"Subject: Big\r\nMessage-ID: <big@customer.test>\r\n\r\n"
    )
    with Ingress(
        smtp_bind="127.0.0.1:0",
        max_message_size=0,
        spool_dir=spool_dir,
        spool_threshold=64 * 1024,
    ) as server:
        wire = Wire(server.binds["smtp"])
        wires.append(wire)
        wire.reply()
        wire.say("EHLO client.test")
        wire.say(f"MAIL FROM:<{SENDER}>")
        wire.say(f"RCPT TO:<{mailbox.address}>")
        wire.say("DATA")
        first_half = head + line * 2000  # 144 KB, over the threshold
        wire.send(first_half)
        # While the rest is still to come, the first part is in a file of the data
        # directory's spool, not in the server's memory.
        wait_for(lambda: _spooled_files(spool_dir), 10, "the spool file")
        assert oct(spool_dir.stat().st_mode & 0o777) == "0o700"
        second_half = b".a dot-stuffed line\r\n" + line * 2000
        wire.send(second_half + b".\r\n")
        assert wire.reply()[0].startswith(b"250 2.0.0")
        assert _spooled_files(spool_dir) == [], "the spool file is closed after the 250"
    raw = rawstore.get(Message.objects.get().raw_sha256)
    assert raw == first_half + second_half[1:]


def test_it_offers_pipelining_and_answers_pipelined_commands_in_order(ingress, wires):
    sales, support = MailboxFactory(), MailboxFactory()
    wire = Wire(ingress.binds["smtp"])
    wires.append(wire)
    wire.reply()
    features = wire.say("EHLO client.test")
    assert b"250-PIPELINING" in features and b"250-ENHANCEDSTATUSCODES" in features
    wire.send(
        f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{sales.address}>\r\nRCPT TO:<nobody@acme.test>\r\n"
        f"RCPT TO:<{support.address}>\r\nDATA\r\n".encode()
    )
    replies = [wire.reply()[0] for _ in range(5)]
    assert [reply[:3] for reply in replies] == [b"250", b"250", b"550", b"250", b"354"]
    wire.send(make_email(to=sales.address).replace(b"\n", b"\r\n") + b".\r\nQUIT\r\n")
    assert wire.reply()[0].startswith(b"250 2.0.0")
    assert wire.reply()[0].startswith(b"221 2.0.0")
    assert MessageCopy.objects.count() == 2


ENHANCED = re.compile(rb"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}( |$)")


@pytest.mark.parametrize("protocol", ["smtp", "lmtp"])
def test_every_reply_after_the_greeting_carries_an_enhanced_status_code(ingress, wires, protocol):
    mailbox = MailboxFactory()
    wire = Wire(ingress.binds[protocol])
    wires.append(wire)
    wire.reply()
    hello = "LHLO" if protocol == "lmtp" else "EHLO"
    wire.say(f"{hello} client.test")  # EHLO's lines carry none (RFC 2034)
    replies = [
        wire.say("NOOP"),
        wire.say("VRFY someone@acme.test"),
        wire.say("HELP"),
        wire.say("BOGUS"),
        wire.say("DATA"),  # before MAIL
        wire.say(f"MAIL FROM:<{SENDER}> FOO=BAR"),
        wire.say(f"MAIL FROM:<{SENDER}>"),
        wire.say(f"MAIL FROM:<{SENDER}>"),  # nested
        wire.say("RCPT TO:<nobody@acme.test>"),
        wire.say("RCPT TO:<not an address"),
        wire.say(f"RCPT TO:<{mailbox.address}>"),
        wire.say("RSET"),
        wire.say(f"MAIL FROM:<{SENDER}> SIZE={SIZE_LIMIT + 1}"),
        wire.say("QUIT"),
    ]
    for reply in replies:
        for line in reply:
            assert ENHANCED.match(line), line


def test_it_offers_starttls_with_the_configured_certificate_and_takes_mail_over_it(tmp_path):
    mailbox = MailboxFactory()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert, key, ["127.0.0.1", "mx.postroom.test"])
    with Ingress(
        smtp_bind="127.0.0.1:0",
        max_message_size=SIZE_LIMIT,
        hostname="mx.postroom.test",
        tls_cert=cert,
        tls_key=key,
    ) as server:
        context = ssl.create_default_context(cafile=str(cert))
        with smtp(server) as client:
            client.ehlo()
            assert client.has_extn("starttls")
            assert client.starttls(context=context)[0] == 220
            client.ehlo()
            assert not client.has_extn("starttls"), "offered once, before TLS"
            assert not client.has_extn("auth"), "nothing to log in to"
            assert client.sock.version() in ("TLSv1.2", "TLSv1.3")
            assert client.sendmail(SENDER, [mailbox.address], make_email()) == {}
    assert MessageCopy.objects.filter(mailbox=mailbox).exists()


def test_start_ingress_takes_its_name_certificate_and_limits_from_the_settings(settings, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert, key)
    settings.POSTROOM = {
        **settings.POSTROOM,
        "INGRESS_HOSTNAME": "mx.acme.test",
        "INGRESS_TLS_CERT": str(cert),
        "INGRESS_TLS_KEY": str(key),
        "INGRESS_MAX_CONNECTIONS": 7,
        "INGRESS_DATA_TIMEOUT": 42.0,
    }
    server = ingress_module.start_ingress(smtp_bind="127.0.0.1:0", lmtp_bind="")
    try:
        with smtp(server) as client:
            code, greeting = client.ehlo()
            assert greeting.split(b"\n")[0] == b"mx.acme.test"
            assert client.has_extn("starttls")
        assert (server.limits.max_connections, server.limits.data_timeout) == (7, 42.0)
        assert server.limits.spool_dir == settings.DATA_DIR / "ingress-spool"
    finally:
        server.stop()
    settings.POSTROOM = {**settings.POSTROOM, "INGRESS_TLS_KEY": ""}
    with pytest.raises(ingress_module.IngressError, match="both a certificate and its key"):
        ingress_module.start_ingress(smtp_bind="127.0.0.1:0", lmtp_bind="")


def test_smtp_stores_for_every_mailbox_or_for_none(ingress, monkeypatch):
    """One reply after DATA covers every recipient: storing for sales@ and failing for
    support@ would make the sender retry both, and sales@ would get it twice."""
    sales, support = MailboxFactory(), MailboxFactory()
    real_store = ingress_module.store_delivery

    def failing_for_support(mailbox_id, *args, **kwargs):
        if mailbox_id == support.pk:
            raise OSError("disk full")
        return real_store(mailbox_id, *args, **kwargs)

    raw = make_email(to=f"{sales.address}, {support.address}")
    with smtp(ingress) as client:
        with monkeypatch.context() as patch:
            patch.setattr(ingress_module, "store_delivery", failing_for_support)
            with pytest.raises(smtplib.SMTPDataError) as failed:
                client.sendmail(SENDER, [sales.address, support.address], raw)
        assert failed.value.smtp_code == 451
        assert not MessageCopy.objects.exists(), "nothing kept: the retry stores each once"
        assert client.sendmail(SENDER, [sales.address, support.address], raw) == {}
    copies = MessageCopy.objects.all()
    assert sorted((c.mailbox_id, c.uid) for c in copies) == [(sales.pk, 1), (support.pk, 1)]


def test_it_refuses_a_line_over_a_mebibyte_after_the_data_and_carries_on(tmp_path):
    mailbox = MailboxFactory()
    with (
        Ingress(
            smtp_bind="127.0.0.1:0", max_message_size=0, spool_dir=tmp_path, spool_threshold=1024
        ) as server,
        smtp(server) as client,
    ):
        huge = make_email(to=mailbox.address).replace(b"\n", b"\r\n") + b"x" * 1_100_000
        client.ehlo()
        client.mail(SENDER)
        client.rcpt(mailbox.address)
        code, reply = client.data(huge)
        assert (code, reply[:6]) == (500, b"5.5.0 ")
        # The session goes on: the next message is read from its first line.
        assert client.sendmail(SENDER, [mailbox.address], make_email()) == {}
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 1
