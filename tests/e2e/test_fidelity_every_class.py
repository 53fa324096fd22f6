"""Issue 20, point 9: one email of every class of hard real-world mail through the real
path. Delivered to Dovecot and synced, and the same bytes (another Message-ID) through
the SMTP ingress: both read alike; the conversation page in Chromium shows the decoded
subject, sender and text with nothing mangled; the search page finds the decoded words;
the CRM timeline of the lead it made shows the decoded subject and sender."""

import base64
import binascii
import smtplib
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from django.core.management import call_command

from postroom import jobs
from postroom.crm.models import Lead
from postroom.mail.models import ConversationMessage, Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.sync.ingress import Ingress
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# What a wrong charset makes of umlauts and CJK (UTF-8 read as Latin-1 or CP1252), and
# what an undecodable byte becomes.
MOJIBAKE = ("\ufffd", "Ã", "â€", "Â", "ã€", "ï¿½")


def _uu(data: bytes) -> bytes:
    lines = [binascii.b2a_uu(data[i : i + 45]).rstrip(b"\n") for i in range(0, len(data), 45)]
    return b"\r\n".join(lines)


def _jis_word(text: bytes) -> bytes:
    return b"=?ISO-2022-JP?B?" + base64.b64encode(text) + b"?="


@dataclass(frozen=True)
class Case:
    raw: bytes  # "{to}" stands for the mailbox's address
    subject: str
    name: str
    address: str
    texts: list[str]  # visible on the conversation page
    search: str  # a decoded word the search page finds
    files: list[str] = field(default_factory=list)  # in the attachment list
    forwarded: str = ""  # a forwarded email's .eml, in a block of its own
    lead: bool = True  # a bounce never makes one


CASES = {
    "forwarded": Case(
        b"From: Anna Kunde <anna@kunde.test>\r\nTo: {to}\r\n"
        b"Subject: =?utf-8?q?Fwd:_Angebot_f=C3=BCr_Paletten?=\r\n"
        b"Message-ID: <fwd.1@kunde.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: text/plain\r\n\r\nSee the offer below.\r\n"
        b"--outer\r\nContent-Type: message/rfc822\r\n\r\n"
        b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@lieferant.test>\r\n"
        b"To:   anna@kunde.test\r\nSubject: Paletten\r\n\t zum Sonderpreis\r\n"
        b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\nMessage-ID: <inner.1@lieferant.test>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Palettenpreis 12 EUR, Gr\xc3\xb6\xc3\x9fe L.\r\n"
        b"\r\n--outer--\r\n",
        subject="Fwd: Angebot für Paletten",
        name="Anna Kunde",
        address="anna@kunde.test",
        texts=["See the offer below.", "Palettenpreis 12 EUR, Größe L.", "Jürgen Müller"],
        search="Palettenpreis",
        forwarded="Paletten zum Sonderpreis.eml",
    ),
    "smtputf8": Case(
        "From: Jösé Müller <jösé@exämple.test>\r\nTo: {to}\r\n"
        "Subject: Grüße aus Zürich\r\nMessage-ID: <ünïcode.1@exämple.test>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\nSchöne Grüße vom Zürichsee.\r\n".encode(),
        subject="Grüße aus Zürich",
        name="Jösé Müller",
        address="jösé@exämple.test",
        texts=["Schöne Grüße vom Zürichsee."],
        search="Zürichsee",
    ),
    "iso-2022-jp with NEC extensions": Case(
        b"From: " + _jis_word("田中".encode("iso2022_jp")) + b" <tanaka@kaisha.test>\r\n"
        b"To: {to}\r\nSubject: "
        + _jis_word(b"\x1b$B-!\x1b(B" + "見積書".encode("iso2022_jp"))
        + b"\r\nMessage-ID: <jis.1@kaisha.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n"
        b'\r\n\x1b$B-"\x1b(B ' + "請求書 をお送りします".encode("iso2022_jp") + b"\r\n",
        subject="①見積書",
        name="田中",
        address="tanaka@kaisha.test",
        texts=["② 請求書 をお送りします"],
        search="請求書",
    ),
    "declared latin-1 umlauts": Case(
        b"From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@kunde.test>\r\nTo: {to}\r\n"
        b"Subject: =?ISO-8859-1?Q?=DCberm=E4=DFige Gr=F6=DFe?=\r\n"
        b"Message-ID: <latin1.1@kunde.test>\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + "Öl für Bär und Größenänderung.\r\n".encode("latin-1"),
        subject="Übermäßige Größe",
        name="Jürgen Müller",
        address="juergen@kunde.test",
        texts=["Öl für Bär und Größenänderung."],
        search="Größenänderung",
    ),
    "broken encoded words": Case(
        # Adjacent without white space, split inside a UTF-8 character, a space inside a
        # Q word, folded across lines; the name half UTF-7, half Latin-1.
        b"From: =?utf-7?Q?Bj+APY-rn_?==?iso-8859-1?q?Sch=F6nfeld?= <bjoern@kunde.test>\r\n"
        b"To: {to}\r\nSubject: =?UTF-8?B?w5xiZXI=?==?UTF-8?Q?_die Gr=C3?=\r\n"
        b" =?UTF-8?Q?=B6=C3=9Fe_der_T=C3=BCr?=\r\nMessage-ID: <ew.1@kunde.test>\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Bitte um ein Angebot f\xc3\xbcr die Haust\xc3\xbcr.\r\n",
        subject="Über die Größe der Tür",
        name="Björn Schönfeld",
        address="bjoern@kunde.test",
        texts=["Bitte um ein Angebot für die Haustür."],
        search="Haustür",
    ),
    "missing from": Case(
        "Sender: Ömer Yıldız <oemer@firma.test>\r\nTo: {to}\r\n"
        "Subject: =?utf-8?Q?Anfrage_ohne_Absender_aus_K=C3=B6ln?=\r\n"
        "Message-ID: <nofrom.1@firma.test>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nBitte um Rückruf.\r\n".encode(),
        subject="Anfrage ohne Absender aus Köln",
        name="Ömer Yıldız",
        address="oemer@firma.test",
        texts=["Bitte um Rückruf.", "the sender is taken from its Sender"],
        search="Rückruf",
    ),
    "multipart/report": Case(
        b"From: Mail Delivery System <MAILER-DAEMON@mx.kunde.test>\r\nTo: {to}\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.kunde.test>\r\n"
        b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Ihre Nachricht an m\xc3\xbcller@kunde.test wurde nicht zugestellt.\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.kunde.test\r\n\r\n"
        b"Final-Recipient: rfc822; bob@kunde.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: sales@acme.test\r\nTo: bob@kunde.test\r\nSubject: Angebot\r\n"
        b"--R--\r\n",
        subject="Undelivered Mail Returned to Sender",
        name="Mail Delivery System",
        address="mailer-daemon@mx.kunde.test",
        texts=["Ihre Nachricht an müller@kunde.test wurde nicht zugestellt.", "Delivery report"],
        search="zugestellt",
        lead=False,
    ),
    "uuencode": Case(
        b"From: Bernd Becker <bernd@baeckerei.test>\r\nTo: {to}\r\n"
        b"Subject: =?utf-8?q?Preisliste_der_B=C3=A4ckerei?=\r\n"
        b"Message-ID: <uu.1@baeckerei.test>\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"Anbei die Preisliste f\xc3\xbcr morgen.\r\n\r\nbegin 644 preisliste.txt\r\n"
        + _uu("Brötchen 0,45 EUR\nBrezeln 0,80 EUR\n".encode())
        + b"\r\n`\r\nend\r\n",
        subject="Preisliste der Bäckerei",
        name="Bernd Becker",
        address="bernd@baeckerei.test",
        texts=["Anbei die Preisliste für morgen."],
        search="Preisliste",
        files=["preisliste.txt"],
    ),
}


def _through_the_ingress(raw: bytes, to: str) -> None:
    with (
        Ingress(smtp_bind="127.0.0.1:0", lmtp_bind="127.0.0.1:0", max_message_size=10**6) as ing,
        smtplib.SMTP(*ing.binds["smtp"], timeout=30) as client,
    ):
        assert client.sendmail("sender@outside.test", [to], raw) == {}
    jobs.drain_embedded_queue()


def _assert_read_right(message: Message, case: Case) -> None:
    assert message.status == Message.Status.PARSED, message.error
    assert (message.subject, message.from_name, message.from_address) == (
        case.subject,
        case.name,
        case.address,
    )
    names = sorted(a.filename for a in message.attachments.filter(is_inline=False))
    assert names == sorted(case.files + ([case.forwarded] if case.forwarded else []))
    seen = f"{message.subject} {message.from_name} {message.text_body}"
    assert not [m for m in MOJIBAKE if m in seen], seen


@pytest.mark.parametrize("name", list(CASES))
def test_every_class_of_hard_mail_reads_right_through_the_real_path(
    name, live_server, page, dovecot, dovecot_mailbox
):
    case = CASES[name]
    to = dovecot_mailbox.address
    raw = case.raw.replace(b"{to}", to.encode())
    dovecot.deliver(raw, to=to)
    call_command("sync", to, "--once")
    # The same bytes handed to the SMTP ingress, as another email of another mailbox.
    ingress_box = MailboxFactory(address="ingress@acme.test")
    _through_the_ingress(
        raw.replace(b"Message-ID: <", b"Message-ID: <ingress."), ingress_box.address
    )

    synced, ingressed = Message.objects.order_by("pk")
    assert synced.copies.get().mailbox == dovecot_mailbox
    assert ingressed.copies.get().mailbox == ingress_box
    for message in (synced, ingressed):
        _assert_read_right(message, case)

    # A time zone of their own: the browser's is not sent, and no reload races the test.
    reader = UserFactory(username="reader", is_superuser=True, time_zone="Europe/Berlin")
    do_grant_mailbox(dovecot_mailbox, reader)
    conversation = ConversationMessage.objects.get(message=synced).conversation_id
    url = f"{live_server.url}/conversations/{conversation}/"
    log_in(page, url, "reader")
    page.wait_for_url(url)
    page.get_by_role("heading", name=case.subject).wait_for()
    article = page.locator("article.message")
    assert article.locator("header strong").first.inner_text() == case.name
    for text in case.texts:
        page.get_by_text(text).first.wait_for()
    for file in case.files:
        article.get_by_role("link", name=file).wait_for()
    shown = page.locator("main").inner_text()
    assert not [m for m in MOJIBAKE if m in shown], shown

    # The search page finds the decoded word, in both emails.
    page.goto(f"{live_server.url}/search/?q={quote(case.search)}")
    results = page.get_by_role("link", name=case.subject)
    results.nth(1).wait_for()
    assert results.count() == 2

    lead = Lead.objects.filter(email=case.address).first()
    if not case.lead:
        assert lead is None  # a bounce never makes a lead
        return
    assert lead is not None
    page.goto(f"{live_server.url}/leads/{lead.pk}/")
    page.get_by_text(case.subject).first.wait_for()
    page.get_by_text(case.name).first.wait_for()
    assert not [m for m in MOJIBAKE if m in page.locator("main").inner_text()]
