"""The ingress behind a real Postfix, configured as the README's recipe says: mail sent
to Postfix on loopback reaches Postroom through both protocols, once, byte for byte;
unknown addresses are refused at Postfix's door; a mailbox and a BCC tracker in one
message each get their own outcome."""

import base64
import os
import smtplib
import threading
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings

from postroom.mail import rawstore
from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes import personal
from postroom.sync.ingress import Ingress
from postroom.testing.dovecot import free_port
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.postfix import Delivery, Postfix, installed
from postroom.testing.tls import write_self_signed

# Transactional: the ingress stores in its own threads, with their own connections.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not installed() and os.environ.get("CI") != "true",
        reason="postfix is not installed (make system-deps installs it)",
    ),
]

SENDER = "anna@customer.test"
PROTOCOLS = ["smtp", "lmtp"]


@pytest.fixture
def ingress() -> Iterator[Ingress]:
    with Ingress(
        smtp_bind="127.0.0.1:0",
        lmtp_bind="127.0.0.1:0",
        max_message_size=django_settings.POSTROOM["MAX_MESSAGE_SIZE"],
        hostname="ingress.postroom.test",
    ) as server:
        yield server


def _postfix(ingress: Ingress, *, tracker_protocol: str = "smtp", **options) -> Postfix:
    """The recipe's Postfix: smtp.acme.test over SMTP, lmtp.acme.test over LMTP, the
    tracker domain over `tracker_protocol`; as big a message as the ingress takes."""
    routes = {
        "smtp.acme.test": ("smtp", ingress.binds["smtp"][1]),
        "lmtp.acme.test": ("lmtp", ingress.binds["lmtp"][1]),
        django_settings.POSTROOM["INGRESS_DOMAIN"]: (
            tracker_protocol,
            ingress.binds[tracker_protocol][1],
        ),
    }
    return Postfix(routes=routes, message_size_limit=ingress.max_message_size, **options).start()


@pytest.fixture
def postfix(ingress) -> Iterator[Postfix]:
    mta = _postfix(ingress)
    try:
        yield mta
    finally:
        mta.remove()


def _send(mta: Postfix, raw: bytes, rcpt: list[str], mail_from: str = SENDER, **kw) -> dict:
    with smtplib.SMTP(mta.host, mta.port, timeout=60) as client:
        return client.sendmail(mail_from, rcpt, raw, **kw)


def _email(
    to: str, subject: str, body: bytes, *, sender: str = SENDER, extra: bytes = b""
) -> bytes:
    """A complete message (Date and Message-ID included, so Postfix adds only its
    Received header), CRLF line ends as on the wire."""
    message_id = f"<{subject.encode().hex()}.{os.urandom(4).hex()}@customer.test>"
    return (
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
        f"Date: Mon, 07 Dec 2026 04:00:00 +0000\r\nMessage-ID: {message_id}\r\n".encode()
        + extra
        + b"MIME-Version: 1.0\r\n\r\n"
        + body
    )


def _sent_to(address: str, count: int):
    def predicate(deliveries: list[Delivery]) -> list[Delivery]:
        done = [d for d in deliveries if d.to == address and d.status != "deferred"]
        return done if len(done) >= count else []

    return predicate


def _stored_raw(mailbox) -> list[bytes]:
    shas = Message.objects.filter(copies__mailbox=mailbox).values_list("raw_sha256", flat=True)
    return [rawstore.get(sha) for sha in shas]


def test_postfix_is_installed_when_ci_runs():
    """Under CI=true these tests never skip: make system-deps installs Postfix."""
    assert installed(), "postfix is not installed: run `make system-deps`"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_ordinary_8bit_and_smtputf8_mail_arrives_once_byte_for_byte(ingress, postfix, protocol):
    mailbox = MailboxFactory(address=f"sales@{protocol}.acme.test")
    long_line = (
        "Grüße, ".encode() * 300
    )  # 2,700 bytes: folded at 998 unless the recipe's limit is off
    sent = [
        _email(mailbox.address, "Ordinary", b"What does it cost?\r\n"),
        _email(
            mailbox.address,
            "Eight bit",
            long_line + b"\r\n",
            extra=b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        ),
        _email(
            mailbox.address,
            "SMTPUTF8",
            "Привет!\r\n".encode(),
            sender="анна@клиент.test",
            extra="Content-Type: text/plain; charset=utf-8\r\nX-Greeting: Привет\r\n".encode(),
        ),
    ]
    assert _send(postfix, sent[0], [mailbox.address]) == {}
    assert _send(postfix, sent[1], [mailbox.address]) == {}
    assert (
        _send(postfix, sent[2], [mailbox.address], "анна@клиент.test", mail_options=["SMTPUTF8"])
        == {}
    )
    done = postfix.wait_for(_sent_to(mailbox.address, 3), what="three deliveries")
    assert [d.status for d in done] == ["sent"] * 3, done
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 3
    stored = _stored_raw(mailbox)
    assert len(stored) == 3
    for raw in sent:
        # Postfix adds its Received header in front; the rest is the sender's bytes.
        matches = [s for s in stored if s.endswith(raw)]
        assert len(matches) == 1, f"not stored as sent (lines folded?): {raw[:60]!r}"
        assert matches[0].startswith(b"Received: from ")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_20_mb_message_and_a_burst_arrive_once(ingress, postfix, protocol):
    mailbox = MailboxFactory(address=f"support@{protocol}.acme.test")
    payload = base64.encodebytes(os.urandom(15 * 1024 * 1024)).replace(b"\n", b"\r\n")
    big = _email(
        mailbox.address,
        "Big",
        payload,
        extra=b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n",
    )
    assert len(big) > 20_000_000
    burst = [_email(mailbox.address, f"Burst {n}", b"Hello again\r\n") for n in range(100)]

    def send_burst(part: list[bytes]) -> None:
        with smtplib.SMTP(postfix.host, postfix.port, timeout=60) as client:
            for raw in part:
                client.sendmail(SENDER, [mailbox.address], raw)

    senders = [threading.Thread(target=send_burst, args=(burst[n::4],)) for n in range(4)]
    for sender in senders:
        sender.start()
    assert _send(postfix, big, [mailbox.address]) == {}
    for sender in senders:
        sender.join(120)
    done = postfix.wait_for(_sent_to(mailbox.address, 101), timeout=180, what="101 deliveries")
    assert {d.status for d in done} == {"sent"}, [d for d in done if d.status != "sent"]
    assert len(done) == 101, "each message is delivered once"
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 101
    assert Message.objects.count() == 101
    (stored_big,) = [raw for raw in _stored_raw(mailbox) if len(raw) > 1_000_000]
    assert stored_big.endswith(big)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_unknown_recipient_is_refused_at_postfixs_door(ingress, postfix, protocol):
    mailbox = MailboxFactory(address=f"sales@{protocol}.acme.test")
    nobody = f"nobody@{protocol}.acme.test"
    raw = _email(nobody, "Hello", b"Anyone?\r\n")
    with smtplib.SMTP(postfix.host, postfix.port, timeout=60) as client:
        client.ehlo()
        client.mail(SENDER)
        # Postfix asks the ingress (a probe: MAIL FROM and RCPT, no DATA) and refuses
        # at RCPT, so the sender's own server tells them, and Postfix bounces nothing.
        code, reply = client.rcpt(nobody)
        assert code == 550, reply
        assert b"5.1.1" in reply and b"no such mailbox here" in reply
        assert client.rcpt("x@elsewhere.test")[0] == 554, "and relays nowhere else"
        assert client.rcpt(mailbox.address)[0] == 250
        assert client.data(raw)[0] == 250
    postfix.wait_for(_sent_to(mailbox.address, 1), what="the known recipient's delivery")
    assert [d.to for d in postfix.deliveries()] == [mailbox.address]
    assert postfix.queue() == ""


@pytest.mark.parametrize(
    ("protocol", "recipient_limit"),
    [("smtp", 1), ("smtp", 0), ("lmtp", 1)],
    ids=["smtp-recipe", "smtp-one-transaction", "lmtp"],
)
def test_a_mailbox_and_a_tracker_that_refuses_the_sender_each_get_their_own_outcome(
    ingress, protocol, recipient_limit
):
    """mallory writes to sales@ with alice's BCC tracker beside it: the tracker refuses
    (alice did not send it), the mailbox takes it. Postfix bounces the tracker alone and
    delivers to the mailbox once, whether it sends them in one transaction or two."""
    alice = UserFactory(username="alice", email="alice@acme.test")
    tracker = personal.tracker_address_of(personal.tracker_for(alice))
    mailbox = MailboxFactory(address=f"sales@{protocol}.acme.test")
    mta = _postfix(ingress, tracker_protocol=protocol, recipient_limit=recipient_limit)
    try:
        raw = _email(mailbox.address, "Offer", b"Buy now\r\n", sender="mallory@evil.test")
        assert _send(mta, raw, [mailbox.address, tracker], "mallory@evil.test") == {}
        outcomes = mta.wait_for(
            lambda ds: (
                [d for d in ds if d.status in ("sent", "bounced")]
                if {d.to for d in ds if d.status in ("sent", "bounced")}
                >= {mailbox.address, tracker}
                else []
            ),
            what="both recipients' outcomes",
        )
        by_recipient = {d.to: d for d in outcomes if d.to in (mailbox.address, tracker)}
        assert by_recipient[mailbox.address].status == "sent"
        assert by_recipient[tracker].status == "bounced"
        assert by_recipient[tracker].dsn == "5.7.1"
        assert "a BCC tracker takes only mail its user sent" in by_recipient[tracker].reply
        assert len([d for d in outcomes if d.to == mailbox.address]) == 1
    finally:
        mta.remove()
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 1
    assert MessageCopy.objects.count() == 1, "nothing in the tracker's mailbox"


def test_postfix_hands_mail_over_starttls_with_the_configured_certificate(tmp_path):
    """An MTA on another host: the ingress offers STARTTLS with POSTROOM_INGRESS_TLS_CERT,
    and Postfix, told to encrypt, delivers over it."""
    mailbox = MailboxFactory(address="sales@smtp.acme.test")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    write_self_signed(cert, key, ["127.0.0.1", "ingress.postroom.test"])
    with Ingress(
        smtp_bind="127.0.0.1:0",
        lmtp_bind="127.0.0.1:0",
        max_message_size=django_settings.POSTROOM["MAX_MESSAGE_SIZE"],
        hostname="ingress.postroom.test",
        tls_cert=cert,
        tls_key=key,
    ) as server:
        mta = _postfix(server, tls=True)
        try:
            raw = _email(mailbox.address, "Encrypted", b"Over TLS\r\n")
            assert _send(mta, raw, [mailbox.address]) == {}
            (done,) = mta.wait_for(_sent_to(mailbox.address, 1), what="the delivery")
            assert done.status == "sent", done
            assert "TLS connection established to 127.0.0.1" in mta.log()
        finally:
            mta.remove()
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_mail_queued_while_the_ingress_is_down_arrives_once_when_it_is_back(protocol):
    mailbox = MailboxFactory(address=f"sales@{protocol}.acme.test")
    size = django_settings.POSTROOM["MAX_MESSAGE_SIZE"]
    binds = {"smtp_bind": f"127.0.0.1:{free_port()}", "lmtp_bind": f"127.0.0.1:{free_port()}"}
    server = Ingress(**binds, max_message_size=size, hostname="ingress.postroom.test").start()
    mta = _postfix(server)
    try:
        assert _send(mta, _email(mailbox.address, "Before", b"1\r\n"), [mailbox.address]) == {}
        mta.wait_for(_sent_to(mailbox.address, 1), what="the first delivery")
        server.stop()
        # Postfix knows the address (verified a moment ago) and queues the mail.
        assert _send(mta, _email(mailbox.address, "While down", b"2\r\n"), [mailbox.address]) == {}
        mta.wait_for(
            lambda ds: [d for d in ds if d.to == mailbox.address and d.status == "deferred"],
            what="the delivery to be deferred",
        )
        server = Ingress(**binds, max_message_size=size, hostname="ingress.postroom.test").start()
        mta.flush()
        done = mta.wait_for(_sent_to(mailbox.address, 2), what="the queued delivery")
        assert [d.status for d in done] == ["sent", "sent"]
        assert mta.queue() == ""
    finally:
        mta.remove()
        server.stop()
    assert MessageCopy.objects.filter(mailbox=mailbox).count() == 2
    subjects = sorted(raw.split(b"Subject: ")[1].split(b"\r\n")[0] for raw in _stored_raw(mailbox))
    assert subjects == [b"Before", b"While down"]
