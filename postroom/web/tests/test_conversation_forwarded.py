"""Forwarded emails on the conversation page (issue 20, point 6): each shown inline in a
block that folds, its headers and body (HTML sanitised in a sandboxed frame, or text),
with a download of the bytes it came as; the forwarding email's text without the copy
of it, and the attachment list without it."""

import html
import re

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mail.models import ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import ingested

pytestmark = pytest.mark.django_db

# As its writer folded it: a re-serialised copy would differ.
TEXT_INNER = (
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@kunde.test>\r\n"
    b"To:   anna@acme.test\r\n"
    b"Subject: Offer for the pallets\r\n\t folded oddly\r\n"
    b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n"
    b"Message-ID: <inner.1@kunde.test>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Pallets at 12 EUR each, Gr\xc3\xb6\xc3\x9fe L.\r\n"
)
HTML_INNER = (
    b"From: Shop <news@shop.test>\r\nTo: anna@acme.test\r\nSubject: Sale\r\n"
    b"Message-ID: <inner.2@shop.test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Chairs <b>half price</b></p><script>alert(1)</script>"
    b'<img src="http://tracker.invalid/p.gif">\r\n'
)


def _forwarding(*inners: bytes, note: str = "See below.", other: bool = True) -> bytes:
    text = b"--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    parts = [text + note.encode() + b"\r\n"]
    for inner in inners:
        parts.append(b"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n")
    if other:
        parts.append(
            b"--outer\r\nContent-Type: application/pdf\r\n"
            b'Content-Disposition: attachment; filename="prices.pdf"\r\n\r\n%PDF-1.4\r\n'
        )
    return (
        b"From: Anna <anna@acme.test>\r\nTo: sales@acme.test\r\nSubject: Fwd: offers\r\n"
        b"Message-ID: <fwd.1@acme.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        + b"".join(parts)
        + b"--outer--\r\n"
    )


@pytest.fixture
def reader():
    return UserFactory()


def _page(reader, raw: bytes) -> tuple[Client, str]:
    mailbox = MailboxFactory()
    do_grant_mailbox(mailbox, reader)
    message = ingested(mailbox, raw)
    link = ConversationMessage.objects.get(message=message)
    client = Client()
    client.force_login(reader)
    page = client.get(reverse("web:conversation", args=[link.conversation_id]))
    assert page.status_code == 200
    return client, page.content.decode()


def test_a_forwarded_email_shows_inline_once_with_its_headers(reader):
    _client, page = _page(reader, _forwarding(TEXT_INNER))
    assert re.search(r'<details class="quoted forwarded" open', page)
    # Unfolded as RFC 5322 says (the fold's line break goes, its white space stays).
    assert re.search(r"Forwarded email: Offer for the pallets\s+folded oddly", page)
    assert "Jürgen Müller &lt;juergen@kunde.test&gt;" in page
    assert "See below." in page
    # Shown in its block, not a second time in the forwarding email's text.
    assert page.count("Pallets at 12 EUR each, Größe L.") == 1
    assert "---------- Forwarded message ----------" not in page


def test_the_forwarded_email_downloads_as_the_bytes_it_came_as(reader):
    client, page = _page(reader, _forwarding(TEXT_INNER))
    block = page[page.index('<details class="quoted forwarded"') :]
    href = re.search(r'<a href="([^"]+)" download>Download this email \(.eml\)', block)[1]
    download = client.get(html.unescape(href))
    assert download["Content-Type"] == "message/rfc822"
    assert download.content == TEXT_INNER
    # Listed once, in its block: the attachment list has only the other files.
    attachments = page[page.index('<ul class="attachments">') :]
    attachments = attachments[: attachments.index("</ul>")]
    assert "prices.pdf" in attachments and ".eml" not in attachments


def test_a_forwarded_html_email_is_sanitised_in_a_sandboxed_frame(reader):
    _client, page = _page(reader, _forwarding(HTML_INNER, TEXT_INNER, other=False))
    frame = re.search(r'<iframe class="message-frame forwarded-frame"[^>]*>', page)[0]
    assert " sandbox " in frame and "allow-" not in frame
    srcdoc = html.unescape(re.search(r'srcdoc="([^"]*)"', frame)[1])
    assert "Chairs <b>half price</b>" in srcdoc
    assert "<script" not in srcdoc and "tracker.invalid" not in srcdoc
    # Both forwarded emails in their order, and no copy of either above them.
    assert page.index("Forwarded email: Sale") < page.index("Forwarded email: Offer")
    assert page.count("Pallets at 12 EUR each") == 1
    assert not re.search(r"<div class=\"body text-body\">[^<]*Chairs", page)


def test_the_senders_own_forward_mark_is_kept(reader):
    # Written inline above the attached email, with the mark Postroom's forward writes too.
    note = (
        "Two offers.\r\n\r\n---------- Forwarded message ----------\r\n"
        "From: Bob <bob@kunde.test>\r\nSubject: Tables\r\n\r\nTables at 30 EUR."
    )
    _client, page = _page(reader, _forwarding(TEXT_INNER, note=note))
    assert "Tables at 30 EUR." in page
    assert page.count("Pallets at 12 EUR each") == 1
