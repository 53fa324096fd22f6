"""Issue 20 through the real parts: mail in the Japanese and Chinese families, Latin-1
full of umlauts and a sender taken from Reply-To read right on the conversation page in
Chromium and after a sync from Dovecot (and on the lead it made), and the text and HTML
parts of a multipart/mixed show in their order."""

import base64

import pytest
from django.core.management import call_command

from postroom.crm.models import Lead
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _iso2022jp() -> bytes:
    subject = base64.b64encode(b"\x1b$B-!\x1b(B" + "見積書".encode("iso2022_jp")).decode()
    head = (
        "From: tanaka@kaisha.test\r\nTo: sales@acme.test\r\n"
        f"Subject: =?ISO-2022-JP?B?{subject}?=\r\n"
        "Message-ID: <jis@kaisha.test>\r\nContent-Type: text/plain; charset=ISO-2022-JP\r\n\r\n"
    )
    return head.encode() + b'\x1b$B-"\x1b(B ' + "請求書をお送りします".encode("iso2022_jp")


def _gbk_without_from() -> bytes:
    head = "Reply-To: 张伟 <zhang@gongsi.test>\r\n".encode("gbk")
    head += b"To: sales@acme.test\r\nSubject: =?utf-8?Q?Gr=C3=B6=C3=9Fe Angebot?=\r\n"
    head += b"Message-ID: <gbk@gongsi.test>\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
    return head + "请查收报价单。".encode("gbk")


def _mixed() -> bytes:
    return (
        b"From: Anna <anna@kunde.test>\r\nTo: sales@acme.test\r\nSubject: Teile\r\n"
        b"Message-ID: <mixed@kunde.test>\r\n"
        b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
        b"--XYZ\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
        + "Übermäßige Größe zuerst.".encode("latin-1")
        + b"\r\n--XYZ\r\nContent-Type: text/html\r\n\r\n<p>Dann <b>HTML</b>.</p>\r\n"
        b"--XYZ\r\nContent-Type: text/plain\r\n\r\nUnd zuletzt.\r\n--XYZ--\r\n"
    )


def test_a_reader_sees_cjk_latin1_and_fallback_senders_decoded(live_server, page):
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    do_grant_mailbox(mailbox, UserFactory(username="reader"))
    conversations = []
    for uid, raw in enumerate((_iso2022jp(), _gbk_without_from(), _mixed()), start=1):
        copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid, raw))
        conversations.append(thread_message(parse_stored(copy.message), mailbox))

    url = f"{live_server.url}/conversations/{conversations[0].pk}/"
    log_in(page, url, "reader")
    page.wait_for_url(url)
    assert page.get_by_role("heading", name="①見積書").is_visible()
    assert page.get_by_text("② 請求書をお送りします").is_visible()

    page.goto(f"{live_server.url}/conversations/{conversations[1].pk}/")
    assert page.get_by_role("heading", name="Größe Angebot").is_visible()
    assert page.get_by_text("张伟", exact=True).is_visible()
    assert page.get_by_text("请查收报价单。").is_visible()
    assert page.get_by_text("the sender is taken from its Reply-To").is_visible()

    page.goto(f"{live_server.url}/conversations/{conversations[2].pk}/")
    frame = page.frame_locator("iframe.message-frame")
    body = frame.locator("body")
    body.get_by_text("Und zuletzt.").wait_for()
    text = body.inner_text()
    assert text.index("Übermäßige Größe zuerst.") < text.index("Dann HTML") < text.index("zuletzt")


def test_the_same_emails_through_dovecot_and_the_sync_arrive_decoded(dovecot, dovecot_mailbox):
    for raw in (_iso2022jp(), _gbk_without_from(), _mixed()):
        dovecot.deliver(raw, to=dovecot_mailbox.address)
    call_command("sync", dovecot_mailbox.address, "--once")

    messages = {m.message_id: m for m in Message.objects.all()}
    assert {m.status for m in messages.values()} == {Message.Status.PARSED}
    jis, gbk, mixed = (
        messages[i] for i in ("jis@kaisha.test", "gbk@gongsi.test", "mixed@kunde.test")
    )
    assert (jis.subject, jis.text_body.strip()) == ("①見積書", "② 請求書をお送りします")
    assert (gbk.from_name, gbk.from_address, gbk.subject) == (
        "张伟",
        "zhang@gongsi.test",
        "Größe Angebot",
    )
    assert "taken from its Reply-To" in gbk.error
    assert mixed.text_body.index("Übermäßige Größe") < mixed.text_body.index("Und zuletzt")
    # The CRM has the decoded sender and subject.
    lead = Lead.objects.get(email="zhang@gongsi.test")
    assert (lead.name, lead.title) == ("张伟", "Größe Angebot")
