"""Issue 20, points 5 (rest), 6 and 7 in the parser and the ingest step: forwarded emails
kept byte for byte, SMTPUTF8 identifiers kept as UTF-8 (and threaded by them), and
uuencode without its "begin" line."""

import base64
import binascii
import os

import pytest

from postroom.mail.models import ConversationMessage
from postroom.mail.parse import parse_message, read_envelope
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import ingested

# A forwarded email as its writer folded it: an odd fold, runs of spaces, an encoded
# word, a header Python would write back differently.
INNER = (
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@kunde.test>\r\n"
    b"To:   anna@acme.test\r\n"
    b"Subject: Offer for the pallets, the long version that its writer folded\r\n"
    b"\t in an odd place\r\n"
    b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n"
    b"Message-ID: <inner.1@kunde.test>\r\n"
    b"X-Odd:    spaces   kept  \r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"Pallets at 12 EUR each, Gr\xc3\xb6\xc3\x9fe L.\r\n"
)


def forwarding(inner: bytes = INNER, *, encoding: str = "") -> bytes:
    cte = f"Content-Transfer-Encoding: {encoding}\r\n" if encoding else ""
    body = base64.encodebytes(inner).replace(b"\n", b"\r\n") if encoding == "base64" else inner
    return (
        b"From: Anna <anna@acme.test>\r\nTo: sales@acme.test\r\nSubject: Fwd: offer\r\n"
        b"Message-ID: <fwd.1@acme.test>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
        b"--outer\r\nContent-Type: text/plain\r\n\r\nSee below.\r\n"
        b"--outer\r\nContent-Type: message/rfc822\r\n" + cte.encode() + b"\r\n" + body + b"\r\n"
        b"--outer--\r\n"
    )


def test_a_forwarded_email_is_kept_byte_for_byte_as_it_came():
    parsed = parse_message(forwarding())
    [eml] = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert eml.data == INNER
    assert eml.filename.startswith("Offer for the pallets")
    # Its text is read under the forwarding note, for search and the timeline.
    assert "From: Jürgen Müller <juergen@kunde.test>" in parsed.text
    assert "Pallets at 12 EUR each, Größe L." in parsed.text


def test_a_forwarded_email_inside_a_nested_multipart_is_sliced_from_its_own_part():
    nested = (
        b"From: anna@acme.test\r\nTo: sales@acme.test\r\nSubject: nested\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="a"\r\n\r\n'
        b'--a\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nText\r\n--b\r\nContent-Type: text/html\r\n\r\n"
        b"<p>Text</p>\r\n--b--\r\n"
        b"--a\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=x.txt\r\n"
        b"\r\nfile\r\n"
        b"--a\r\nContent-Type: message/rfc822\r\n\r\n" + INNER + b"--a--\r\n"
    )
    [eml] = [a for a in parse_message(nested).attachments if a.content_type == "message/rfc822"]
    # The line break before the delimiter belongs to the delimiter.
    assert eml.data == INNER[:-2]


def test_a_base64_encoded_forwarded_email_is_stored_decoded_and_read():
    parsed = parse_message(forwarding(encoding="base64"))
    [eml] = [a for a in parsed.attachments if a.content_type == "message/rfc822"]
    assert eml.data == INNER
    assert "Pallets at 12 EUR each" in parsed.text


UTF8_ORIGINAL = (
    "From: Jösé Müller <jösé@exämple.test>\r\nTo: Ünï <ünï@acme.test>\r\n"
    "Subject: Grüße\r\nMessage-ID: <ünïcode.1@exämple.test>\r\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHallo\r\n"
).encode()
UTF8_REPLY = (
    "From: ünï@acme.test\r\nTo: Jösé Müller <jösé@exämple.test>\r\n"
    "Subject: Re: Grüße\r\nMessage-ID: <reply.1@acme.test>\r\n"
    "In-Reply-To: <ünïcode.1@exämple.test>\r\n"
    "References: <röot@exämple.test> <ünïcode.1@exämple.test>\r\n"
    "Date: Mon, 7 Dec 2026 11:00:00 +0000\r\n\r\nDanke\r\n"
).encode()


def test_utf8_identifiers_and_addresses_are_kept_as_utf8():
    assert read_envelope(UTF8_ORIGINAL).message_id == "ünïcode.1@exämple.test"
    original = parse_message(UTF8_ORIGINAL)
    assert (original.from_name, original.from_address) == ("Jösé Müller", "jösé@exämple.test")
    assert original.to == ["ünï@acme.test"]
    reply = parse_message(UTF8_REPLY)
    assert reply.in_reply_to == "ünïcode.1@exämple.test"
    assert reply.references == ["röot@exämple.test", "ünïcode.1@exämple.test"]


def test_a_utf8_address_is_utf8_even_when_the_body_hints_at_another_charset():
    # The display name follows the hint (short GBK names are often valid UTF-8 too);
    # the address has no such doubt: RFC 6532 addresses are UTF-8.
    raw = (
        "From: Jösé <jösé@exämple.test>\r\nTo: sales@acme.test\r\nSubject: x\r\n"
        "Content-Type: text/plain; charset=gbk\r\n\r\n"
    ).encode() + "报价单".encode("gbk")
    parsed = parse_message(raw)
    assert parsed.from_address == "jösé@exämple.test"


@pytest.mark.django_db
def test_a_reply_to_a_utf8_message_id_threads_with_it():
    mailbox = MailboxFactory()
    original = ingested(mailbox, UTF8_ORIGINAL)
    reply = ingested(mailbox, UTF8_REPLY)
    assert original.message_id == "ünïcode.1@exämple.test"
    links = ConversationMessage.objects.filter(mailbox=mailbox)
    assert links.get(message=original).conversation_id == links.get(message=reply).conversation_id


def uu_lines(data: bytes) -> str:
    return "".join(binascii.b2a_uu(data[i : i + 45]).decode() for i in range(0, len(data), 45))


PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(400)


def test_a_uuencoded_part_without_its_begin_line_is_the_file_it_is():
    raw = (
        "From: a@b.test\r\nTo: c@d.test\r\nSubject: uu\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=X\r\n\r\n--X\r\nContent-Type: text/plain\r\n"
        "\r\nSee the picture.\r\n--X\r\nContent-Type: image/png; name=ball.png\r\n"
        "Content-Transfer-Encoding: x-uuencode\r\n\r\n" + uu_lines(PNG) + "`\r\nend\r\n--X--\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("ball.png", "image/png", PNG)
    ]


def test_uuencoded_lines_without_begin_in_a_text_body_become_an_attachment():
    raw = (
        "From: a@b.test\r\nTo: c@d.test\r\nSubject: uu\r\n\r\nSee the picture.\r\n\r\n"
        + uu_lines(PNG).replace("\n", "\r\n")
        + "`\r\nend\r\n\r\nRegards, Anna\r\n"
    ).encode()
    parsed = parse_message(raw)
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("uuencoded-1.png", "image/png", PNG)
    ]
    assert "See the picture." in parsed.text and "Regards, Anna" in parsed.text
    assert "M" + "\x89" not in parsed.text and len(parsed.text) < 100


def test_text_whose_lines_start_with_m_stays_text():
    body = "Meeting notes\r\nMonday: pallets\r\nMore later\r\n" * 5
    raw = f"From: a@b.test\r\nTo: c@d.test\r\nSubject: notes\r\n\r\n{body}".encode()
    parsed = parse_message(raw)
    assert parsed.attachments == []
    assert parsed.text.count("Monday: pallets") == 5
