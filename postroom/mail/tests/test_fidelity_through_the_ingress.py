"""Issue 20's hardest emails through the real path: the SMTP ingress, the pipeline's jobs,
search, the conversation page and the lead's timeline all show them decoded."""

import base64
import smtplib

import pytest
from django.test import Client
from django.urls import reverse

from postroom import jobs
from postroom.crm.models import Lead
from postroom.mail.models import ConversationMessage, Message
from postroom.mail.search import search
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.sync.ingress import Ingress
from postroom.testing.factories import MailboxFactory, UserFactory

# Transactional: the ingress stores from its own threads and connections.
pytestmark = pytest.mark.django_db(transaction=True)


def _latin1(to: str) -> bytes:
    """ISO-8859-1 declared, short and full of umlauts: once read as Greek."""
    head = (
        "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <juergen@kunde.test>\r\n"
        f"To: {to}\r\nSubject: =?ISO-8859-1?Q?=DCberm=E4=DFige Gr=F6=DFe?=\r\n"
        "Message-ID: <latin1@kunde.test>\r\n"
        "Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n"
    )
    return head.encode() + b"\r\n" + "Öl für Bär und Größenänderung.\r\n".encode("latin-1")


def _iso2022jp(to: str) -> bytes:
    """ISO-2022-JP with NEC's circled digits, which Python's codecs refuse."""
    subject = base64.b64encode(b"\x1b$B-!\x1b(B" + "見積書".encode("iso2022_jp")).decode()
    head = (
        f"From: tanaka@kaisha.test\r\nTo: {to}\r\nSubject: =?ISO-2022-JP?B?{subject}?=\r\n"
        "Message-ID: <jis@kaisha.test>\r\n"
        "Content-Type: text/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n"
    )
    body = b'\x1b$B-"\x1b(B ' + "請求書 をお送りします".encode("iso2022_jp") + b"\r\n"
    return head.encode() + b"\r\n" + body


def _gbk(to: str) -> bytes:
    """Raw GBK in the display name and the file name, the body declared GB2312."""
    head = "From: 张伟 <zhang@gongsi.test>\r\n".encode("gbk")
    head += f"To: {to}\r\nSubject: Baojia\r\nMessage-ID: <gbk@gongsi.test>\r\n".encode()
    head += b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
    body = b"--XYZ\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
    body += "请查收 报价单 附件。".encode("gbk") + b"\r\n--XYZ\r\n"
    body += b'Content-Type: application/pdf; name="' + "报价单.pdf".encode("gbk") + b'"\r\n'
    body += b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--XYZ--\r\n"
    return head + body


def _no_from(to: str) -> bytes:
    return (
        f"Reply-To: Anna Schmidt <anna@kunde.test>\r\nTo: {to}\r\n"
        "Subject: =?utf-8?Q?Ohne Absender aus K=C3=B6ln?=\r\nMessage-ID: <nofrom@kunde.test>\r\n"
        "\r\nBitte um Angebot.\r\n"
    ).encode()


def test_the_hardest_emails_arrive_decoded_searchable_and_shown():
    mailbox = MailboxFactory()
    user = UserFactory()
    do_grant_mailbox(mailbox, user)
    emails = {
        "latin1@kunde.test": _latin1(mailbox.address),
        "jis@kaisha.test": _iso2022jp(mailbox.address),
        "gbk@gongsi.test": _gbk(mailbox.address),
        "nofrom@kunde.test": _no_from(mailbox.address),
    }
    with (
        Ingress(
            smtp_bind="127.0.0.1:0", lmtp_bind="127.0.0.1:0", max_message_size=1_000_000
        ) as ingress,
        smtplib.SMTP(*ingress.binds["smtp"], timeout=30) as client,
    ):
        for raw in emails.values():
            assert client.sendmail("sender@outside.test", [mailbox.address], raw) == {}
    jobs.drain_embedded_queue()
    messages = {m.message_id: m for m in Message.objects.filter(message_id__in=emails)}
    assert {m.status for m in messages.values()} == {Message.Status.PARSED}

    latin1 = messages["latin1@kunde.test"]
    assert (latin1.subject, latin1.from_name) == ("Übermäßige Größe", "Jürgen Müller")
    assert latin1.text_body.strip() == "Öl für Bär und Größenänderung."
    jis = messages["jis@kaisha.test"]
    assert (jis.subject, jis.text_body.strip()) == ("①見積書", "② 請求書 をお送りします")
    gbk = messages["gbk@gongsi.test"]
    assert gbk.from_name == "张伟"
    assert [a.filename for a in gbk.attachments.all()] == ["报价单.pdf"]
    no_from = messages["nofrom@kunde.test"]
    assert (no_from.from_name, no_from.from_address) == ("Anna Schmidt", "anna@kunde.test")
    assert "taken from its Reply-To" in no_from.error

    # Search finds the decoded words.
    for query, message_id in (
        ("Größe", "latin1@kunde.test"),
        ("Größenänderung", "latin1@kunde.test"),
        ("Köln", "nofrom@kunde.test"),
        ("Jürgen", "latin1@kunde.test"),
    ):
        hits = search(user, query).hits
        assert message_id in [h.message.message_id for h in hits], query

    # The conversation page shows them decoded, and says where the sender came from.
    client = Client()
    client.force_login(user)
    shown = {
        "latin1@kunde.test": ["Übermäßige Größe", "Jürgen Müller", "Öl für Bär"],
        "jis@kaisha.test": ["①見積書", "② 請求書 をお送りします"],
        "gbk@gongsi.test": ["张伟", "报价单.pdf", "请查收 报价单 附件。"],
        "nofrom@kunde.test": ["Anna Schmidt", "Ohne Absender aus Köln", "taken from its Reply-To"],
    }
    for message_id, texts in shown.items():
        link = ConversationMessage.objects.get(message=messages[message_id])
        page = client.get(reverse("web:conversation", args=[link.conversation_id]))
        assert page.status_code == 200
        body = page.content.decode()
        for text in texts:
            assert text in body, (message_id, text)

    # The CRM timeline of the lead the email made shows the decoded subject and sender.
    admin = UserFactory(is_superuser=True)
    client.force_login(admin)
    lead = Lead.objects.get(email="juergen@kunde.test")
    page = client.get(reverse("web:lead", args=[lead.pk])).content.decode()
    assert "Übermäßige Größe" in page
    assert "Jürgen Müller" in page
