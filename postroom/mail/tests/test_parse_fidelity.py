"""Parsing real-world mail: encodings, charsets that lie, MIME structures, attachments.

Each test feeds a small hand-written raw message to parse_message (no database).
"""

import base64
import quopri

import pytest

from postroom.mail.parse import (
    ParseError,
    normalize_subject,
    parse_message,
    read_envelope,
    safe_filename,
)
from postroom.testing.tnef import make_tnef


def raw(headers: str, body: bytes | str = b"hello\r\n", *, charset: str = "ascii") -> bytes:
    """A message from header lines (joined with CRLF) and a body."""
    head = "\r\n".join(headers.strip().splitlines()).encode(charset, "surrogateescape")
    if isinstance(body, str):
        body = body.encode(charset)
    return head + b"\r\n\r\n" + body


BASE = "From: Anna <anna@customer.test>\nTo: sales@acme.test\nMessage-ID: <m1@customer.test>"


def multipart(*parts: bytes, subtype: str = "mixed", extra: str = "") -> bytes:
    body = b"".join(b"--XYZ\r\n" + part + b"\r\n" for part in parts) + b"--XYZ--\r\n"
    return raw(
        f'{BASE}\nSubject: x\n{extra}Content-Type: multipart/{subtype}; boundary="XYZ"', body
    )


# -- headers ------------------------------------------------------------------------------


def test_it_decodes_encoded_words_in_headers():
    parsed = parse_message(
        raw(f"{BASE}\nSubject: =?iso-8859-1?q?Gr=FC=DFe?= =?utf-8?b?0L/RgNC40LLQtdGC?= und mehr")
    )
    # Whitespace between two encoded words goes, the rest stays (RFC 2047 section 6.2).
    assert parsed.subject == "Grüßeпривет und mehr"


def test_it_joins_a_utf8_character_split_across_encoded_words():
    word = "Привет".encode()
    first, second = base64.b64encode(word[:3]).decode(), base64.b64encode(word[3:]).decode()
    parsed = parse_message(raw(f"{BASE}\nSubject: =?UTF-8?B?{first}?= =?UTF-8?B?{second}?="))
    assert parsed.subject == "Привет"


def test_it_keeps_an_encoded_comma_inside_a_display_name():
    parsed = parse_message(
        raw(
            "From: =?utf-8?q?M=C3=BCller=2C_J=C3=BCrgen?= <j@customer.test>\n"
            "To: a@acme.test, =?utf-8?b?0J/RkdGC0YA=?= <p@acme.test>\nSubject: x"
        )
    )
    assert (parsed.from_name, parsed.from_address) == ("Müller, Jürgen", "j@customer.test")
    assert parsed.to == ["a@acme.test", "p@acme.test"]


def test_it_reads_raw_utf8_headers():  # RFC 6532
    parsed = parse_message(
        raw(
            "From: Jürgen Müller <jürgen@müller.test>\nTo: Пётр <p@acme.test>\n"
            "Subject: Grüße — привет",
            charset="utf-8",
        )
    )
    assert parsed.subject == "Grüße — привет"
    assert (parsed.from_name, parsed.from_address) == ("Jürgen Müller", "jürgen@müller.test")


def test_it_reads_raw_8bit_headers_in_the_body_charset():
    headers = "From: Анна <anna@customer.test>\nSubject: Счёт на оплату\n"
    headers += "Content-Type: text/plain; charset=koi8-r"
    parsed = parse_message(raw(headers, "Пришлите счёт, пожалуйста.", charset="koi8-r"))
    assert parsed.subject == "Счёт на оплату"
    assert parsed.from_name == "Анна"
    assert parsed.text == "Пришлите счёт, пожалуйста."


def test_it_reads_raw_latin1_bytes_inside_an_encoded_word():
    # Invalid, but sent: 8-bit bytes where quoted-printable was due.
    parsed = parse_message(raw(f"{BASE}\nSubject: =?iso-8859-1?Q?Fr\xf6sche?=", charset="latin-1"))
    assert parsed.subject == "Frösche"


def test_it_reads_obsolete_white_space_before_the_colon():
    parsed = parse_message(raw("From  : Anna <anna@customer.test>\nSubject   : Hello\n"))
    assert (parsed.from_address, parsed.subject) == ("anna@customer.test", "Hello")


def test_it_keeps_headers_after_a_stray_line_in_the_header_block():
    parsed = parse_message(
        raw("Received: from a\ngarbage line without a colon\nFrom: a@customer.test\nSubject: Hi")
    )
    assert (parsed.from_address, parsed.subject) == ("a@customer.test", "Hi")
    assert parsed.text.strip() == "hello"


def test_it_quarantines_a_file_that_is_not_an_email():
    with pytest.raises(ParseError, match="not an email"):
        parse_message(b'{"headers": [], "body": "a JSON file"}\n')


def test_it_removes_nul_characters_that_postgresql_cannot_store():
    parsed = parse_message(raw(f"{BASE}\nSubject: a\x00b", b"x\x00y\r\n"))
    assert (parsed.subject, parsed.text.strip()) == ("ab", "xy")


def test_it_reads_the_outlook_thread_index():
    index = bytes(range(22)) + b"\x00\x01\x02\x03\x04"
    parsed = parse_message(
        raw(f"{BASE}\nSubject: x\nThread-Index: {base64.b64encode(index).decode()}")
    )
    assert parsed.thread_index == bytes(range(22)).hex()


# -- charsets -----------------------------------------------------------------------------

CYRILLIC = "Здравствуйте! Пришлите, пожалуйста, счёт на оплату за март."


def test_it_reads_cyrillic_declared_as_latin1():
    subject = quopri.encodestring("Счёт".encode("cp1251"), header=True).decode()
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: =?iso-8859-1?Q?{subject}?=\n"
            "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
            CYRILLIC.encode("cp1251"),
        )
    )
    assert parsed.text == CYRILLIC
    # Too short to detect alone: read like the body of the same mailer.
    assert parsed.subject == "Счёт"


def test_it_reads_cyrillic_declared_as_us_ascii():
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=us-ascii",
            CYRILLIC,
            charset="cp1251",
        )
    )
    assert parsed.text == CYRILLIC


def test_it_reads_utf8_declared_as_latin1():
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1",
            "Grüße, €5",
            charset="utf-8",
        )
    )
    assert parsed.text == "Grüße, €5"


def test_it_reads_windows_1252_declared_as_latin1():
    text = "“Quoted” – price €5, Grüße"
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1",
            text,
            charset="cp1252",
        )
    )
    assert parsed.text == text


def test_it_reads_windows_1251_declared_as_utf8():
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=utf-8",
            CYRILLIC,
            charset="cp1251",
        )
    )
    assert parsed.text == CYRILLIC


def test_it_leaves_plain_western_text_declared_as_latin1_alone():
    text = "Bonjour, voilà le résumé de la réunion. Grüße aus Köln, Ålesund og Þórshöfn."
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=iso-8859-1",
            text,
            charset="latin-1",
        )
    )
    assert parsed.text == text


@pytest.mark.parametrize(
    ("label", "codec", "text"),
    [
        ("utf-8", "utf-8", "Grüße — привет — 你好"),
        ("iso-8859-2", "iso-8859-2", "Zażółć gęślą jaźń, příliš žluťoučký kůň"),
        ("windows-1250", "cp1250", "Zażółć gęślą jaźń, příliš žluťoučký kůň"),
        ("iso-8859-5", "iso-8859-5", CYRILLIC),
        ("koi8-r", "koi8-r", CYRILLIC),
        ("koi8-u", "koi8-u", "Доброго дня! Надішліть, будь ласка, рахунок."),
        ("windows-1251", "cp1251", CYRILLIC),
        ("iso-8859-7", "iso-8859-7", "Καλημέρα, παρακαλώ στείλτε μου το τιμολόγιο."),
        ("windows-1253", "cp1253", "Καλημέρα, παρακαλώ στείλτε μου το τιμολόγιο."),
        ("iso-8859-9", "iso-8859-9", "Günaydın, lütfen faturayı gönderin. Şimdi çok iyi."),
        ("windows-1255", "cp1255", "שלום, אנא שלחו לי את החשבונית."),
        ("windows-1256", "cp1256", "مرحبا، أرسل لي الفاتورة من فضلك."),
        ("iso-8859-15", "iso-8859-15", "Prix: 5 €, œuvre"),
        ("shift_jis", "shift_jis", "こんにちは、請求書を送ってください。"),
        ("euc-jp", "euc-jp", "こんにちは、請求書を送ってください。"),
        ("iso-2022-jp", "iso-2022-jp", "こんにちは、請求書を送ってください。"),
        ("gb2312", "gb2312", "你好，请把发票寄给我。谢谢"),
        ("gbk", "gbk", "你好，请把发票寄给我。谢谢"),
        ("big5", "big5", "你好，請把發票寄給我。謝謝"),
        ("euc-kr", "euc-kr", "안녕하세요, 청구서를 보내 주세요."),
        ("ks_c_5601-1987", "cp949", "안녕하세요, 청구서를 보내 주세요."),
        ("tis-620", "tis-620", "สวัสดีครับ กรุณาส่งใบแจ้งหนี้"),
        ("windows-874", "cp874", "สวัสดีครับ กรุณาส่งใบแจ้งหนี้"),
        ("iso-8859-8-i", "iso-8859-8", "שלום, אנא שלחו לי את החשבונית."),
        ("x-mac-cyrillic", "mac-cyrillic", CYRILLIC),
        ("utf-16", "utf-16", "Grüße — привет"),
    ],
)
def test_it_reads_every_charset_python_knows_and_the_usual_aliases(label, codec, text):
    for encoding in ("8bit", "base64", "quoted-printable"):
        data = text.encode(codec)
        if encoding == "base64":
            data = base64.encodebytes(data)
        elif encoding == "quoted-printable":
            data = quopri.encodestring(data)
        parsed = parse_message(
            raw(
                f"{BASE}\nSubject: x\nContent-Type: text/plain; charset={label}\n"
                f"Content-Transfer-Encoding: {encoding}",
                data,
            )
        )
        assert parsed.text.strip() == text, encoding


def test_it_survives_an_unknown_charset():
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=x-no-such",
            "café",
            charset="latin-1",
        )
    )
    assert parsed.text == "café"


def test_it_uses_the_meta_charset_of_html_without_one_in_the_header():
    html = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'
    parsed = parse_message(
        raw(f"{BASE}\nSubject: x\nContent-Type: text/html", html, charset="cp1251")
    )
    assert "Привет" in parsed.html


# -- bodies -------------------------------------------------------------------------------


def test_it_decodes_quoted_printable_and_base64_bodies():
    qp = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: quoted-printable",
            b"Gr=C3=BC=C3=9Fe, a soft=\r\n line break\r\n",
        )
    )
    assert qp.text == "Grüße, a soft line break\n"
    b64 = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=utf-8\n"
            "Content-Transfer-Encoding: base64",
            base64.encodebytes("Grüße\r\nzwei Zeilen".encode()),
        )
    )
    assert b64.text == "Grüße\nzwei Zeilen"


def test_it_keeps_both_parts_of_multipart_alternative():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nPlain version",
            b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>HTML version</p>",
            subtype="alternative",
        )
    )
    assert parsed.text.strip() == "Plain version"
    assert parsed.html.strip() == "<p>HTML version</p>"
    assert parsed.attachments == []


def test_it_marks_an_inline_image_by_content_id():
    png = b"\x89PNG\r\n\x1a\nfake"
    parsed = parse_message(
        multipart(
            b'Content-Type: text/html; charset=utf-8\r\n\r\n<img src="cid:Logo@Acme">',
            b"Content-Type: image/png\r\nContent-ID: <logo@acme>\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(png),
            b"Content-Type: image/png; name=other.png\r\nContent-ID: <unused@acme>\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(png),
            subtype="related",
        )
    )
    logo, other = parsed.attachments
    assert (logo.content_id, logo.is_inline, logo.data) == ("logo@acme", True, png)
    # Not referenced from the HTML: a file to download, not hidden as "inline".
    assert (other.filename, other.is_inline) == ("other.png", False)


def test_it_appends_text_that_follows_an_inline_image():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nLook at this:",
            b"Content-Type: image/jpeg\r\nContent-Disposition: inline\r\n\r\nJPEG",
            b"Content-Type: text/plain\r\n\r\nNice, isn't it?",
        )
    )
    assert parsed.text == "Look at this:\n\nNice, isn't it?"
    assert [a.content_type for a in parsed.attachments] == ["image/jpeg"]


def test_it_keeps_a_forwarded_message_as_an_eml_attachment_and_its_text():
    inner = raw(
        "From: Bob <bob@supplier.test>\nTo: anna@customer.test\nSubject: Offer 42\n"
        "Date: Mon, 3 Mar 2025 10:00:00 +0000\nMessage-ID: <inner@supplier.test>",
        "The offer is attached.\r\n",
    )
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nSee below.",
            b"Content-Type: message/rfc822\r\n\r\n" + inner,
        )
    )
    (forwarded,) = parsed.attachments
    assert (forwarded.filename, forwarded.content_type) == ("Offer 42.eml", "message/rfc822")
    assert parse_message(forwarded.data).subject == "Offer 42"
    assert parsed.text.startswith("See below.\n\n---------- Forwarded message ----------\n")
    assert "Subject: Offer 42" in parsed.text
    assert parsed.text.endswith("The offer is attached.\n")


def test_it_keeps_every_other_part_as_an_attachment():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nbody",
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment\r\n\r\n%PDF",
            b"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=notes.txt"
            b"\r\n\r\nnotes",
            b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n",
        )
    )
    assert [(a.filename, a.content_type) for a in parsed.attachments] == [
        ("part-1.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
        ("part-3.bin", "message/delivery-status"),
    ]
    assert parsed.attachments[2].data.startswith(b"Reporting-MTA: dns; mx.test")


# -- attachment names ---------------------------------------------------------------------


def test_it_reads_rfc2231_continued_and_encoded_attachment_names():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nbody",
            b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
            b" filename*0*=utf-8''%D0%A1%D1%87%D1%91%D1%82%20;\r\n"
            b" filename*1*=%E2%84%96%2042.pdf\r\n\r\nPDF",
            b"Content-Type: application/pdf; name*=iso-8859-1''caf%E9.pdf\r\n\r\nPDF",
            b'Content-Type: application/pdf; name="=?utf-8?b?0L/RgNC40LLQtdGC?=.pdf"\r\n\r\nPDF',
            b"Content-Type: application/pdf; name==?utf-8?B?VGhpcyBpcyBhIHRlc3QucGRm?=\r\n\r\nPDF",
            b'Content-Type: text/plain; name="Gr\xfc\xdfe.txt"\r\n'
            b"Content-Disposition: attachment\r\n\r\nx",
        )
    )
    assert [a.filename for a in parsed.attachments] == [
        "Счёт № 42.pdf",
        "café.pdf",
        "привет.pdf",
        "This is a test.pdf",
        "Grüße.txt",
    ]


def test_it_strips_directories_and_control_characters_from_attachment_names():
    assert safe_filename("C:\\Users\\x\\..\\report.pdf") == "report.pdf"
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("a\r\nb\x00.txt") == "ab.txt"
    assert safe_filename("..") == ""
    long = safe_filename("x" * 300 + ".pdf")
    assert len(long) == 255 and long.endswith(".pdf")


# -- TNEF ---------------------------------------------------------------------------------


def test_it_unpacks_the_files_of_a_winmail_dat():
    tnef = make_tnef([("report.pdf", b"%PDF-1.4"), ("Grüße.txt", b"hallo")], body="Hi there")
    parsed = parse_message(
        multipart(
            b"Content-Type: application/ms-tnef; name=winmail.dat\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(tnef)
        )
    )
    assert [(a.filename, a.content_type, a.data) for a in parsed.attachments] == [
        ("report.pdf", "application/pdf", b"%PDF-1.4"),
        ("Grüße.txt", "text/plain", b"hallo"),
    ]
    assert parsed.text == "Hi there"  # Outlook's body, when the email had none of its own


def test_it_keeps_a_corrupt_winmail_dat_as_an_attachment():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nbody",
            b"Content-Type: application/ms-tnef; name=winmail.dat\r\n\r\nnot TNEF at all",
        )
    )
    (kept,) = parsed.attachments
    assert (kept.filename, kept.data) == ("winmail.dat", b"not TNEF at all")


# -- identity and subjects ----------------------------------------------------------------


def test_it_gives_the_same_content_hash_to_copies_seen_by_different_servers():
    message = raw(f"{BASE}\nSubject: A rather long subject that a server might fold", "body")
    refolded = message.replace(b"Subject: A rather long", b"Subject: A rather\r\n  long")
    first = read_envelope(b"Received: from a\r\nDelivered-To: one@acme.test\r\n" + message)
    second = read_envelope(b"Received: from b\r\nDelivered-To: two@acme.test\r\n" + refolded)
    assert first.content_hash == second.content_hash
    assert first.identity == "mid:m1@customer.test"


def test_it_gives_a_reused_message_id_a_distinct_identity():
    first = read_envelope(raw(f"{BASE}\nSubject: Order 1", "one"))
    second = read_envelope(raw(f"{BASE}\nSubject: Order 2", "two"))
    assert first.identity == second.identity == "mid:m1@customer.test"
    assert first.content_hash != second.content_hash
    assert second.reused_identity == f"mid:m1@customer.test#{second.content_hash[:16]}"
    long_id = read_envelope(raw(f"Message-ID: <{'x' * 249}@t>\nSubject: y"))
    assert len(long_id.reused_identity) <= 255


@pytest.mark.parametrize(
    "subject",
    [
        "Re: Price",
        "RE: re: Price",
        "Fwd: Price",
        "FW: Price",
        "AW: WG: Price",
        "SV: VS: Price",
        "Ответ: Price",
        "Re[2]: Price",
        "Re(3): Price",
        "RE：Price",
        "回复: Price",
        "Re: [Ticket#123] Price",
        "[Ticket #123] Re: Price",
        "[EXTERNAL] AW: [sales] Price",
        "Price (fwd)",
        "  price  ",
    ],
)
def test_it_strips_reply_prefixes_and_ticket_tags(subject):
    assert normalize_subject(subject) == "price"


def test_it_keeps_tags_and_colons_inside_the_subject():
    assert normalize_subject("Order [42]: Re: shipped") == "order [42]: re: shipped"
    assert normalize_subject("R2D2: status") == "r2d2: status"


# -- issue 20: the mail that real mailers send ------------------------------------------


def test_latin1_umlauts_in_subject_and_body_are_not_read_as_greek():
    parsed = parse_message(
        raw(
            "From: =?ISO-8859-1?Q?J=FCrgen_M=FCller?= <j@customer.test>\n"
            "Subject: =?ISO-8859-1?Q?=DCberm=E4=DFige_Gr=F6=DFe?=\n"
            "Content-Type: text/plain; charset=ISO-8859-1\nContent-Transfer-Encoding: 8bit",
            "Öl für Bär.".encode("latin-1"),
        )
    )
    assert (parsed.subject, parsed.from_name, parsed.text) == (
        "Übermäßige Größe",
        "Jürgen Müller",
        "Öl für Bär.",
    )


@pytest.mark.parametrize(
    ("header", "subject"),
    [
        # Spaces inside the encoded text (RFC 2047 forbids them; Outlook and PHP send them).
        ("=?iso-8859-1?Q?Gr=FC=DFe aus K=F6ln?=", "Grüße aus Köln"),
        # Folded inside a base64 word: the line break lands in the middle of the text.
        ("=?utf-8?B?0J/RgNC40LLQtdGC?=\r\n =?utf-8?B?INC80LjRgA==?=", "Привет мир"),
        ("=?utf-8?B?0J/RgNC40LLQ\r\n tdGC?=", "Привет"),
        # Adjacent, with no white space between them.
        ("=?utf-8?Q?Gr=C3=BC?==?utf-8?Q?=C3=9Fe?=", "Grüße"),
        # A UTF-8 character split between two quoted-printable words.
        ("=?UTF-8?Q?K=C3?= =?UTF-8?Q?=B6ln?=", "Köln"),
        # UTF-7, as Outlook 2000 wrote it.
        ("=?utf-7?Q?Die_Hasen_und_die_Fr+APY-sche?=", "Die Hasen und die Frösche"),
        # Lower-case hex, a language suffix (RFC 2231) and an unknown charset's ASCII.
        ("=?utf-8*de?q?Gr=c3=bc=c3=9fe?= =?x-unknown?q?ok?=", "Grüßeok"),
    ],
)
def test_it_decodes_encoded_words_as_mailers_write_them(header, subject):
    assert parse_message(raw(f"{BASE}\nSubject: {header}")).subject == subject


def test_it_reads_encoded_words_mixed_with_raw_8bit_text():
    head = f"{BASE}\nSubject: Grüße =?utf-8?Q?aus_K=C3=B6ln?= — Müller"
    assert parse_message(raw(head, charset="utf-8")).subject == "Grüße aus Köln — Müller"
    head = f"{BASE}\nSubject: Grüße =?utf-8?Q?aus_K=C3=B6ln?=\n"
    head += "Content-Type: text/plain; charset=latin-1"
    assert parse_message(raw(head, charset="latin-1")).subject == "Grüße aus Köln"


def test_iso_2022_jp_subject_with_nec_extensions_keeps_its_circled_digits():
    # ① is NEC row 13 (0x2D21): written in JIS by hand, the rest by Python's codec.
    word = base64.b64encode(b"\x1b$B-!\x1b(B" + "自動返信".encode("iso2022_jp")).decode()
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: =?ISO-2022-JP?B?{word}?=\n"
            "Content-Type: text/plain; charset=ISO-2022-JP\nContent-Transfer-Encoding: 7bit",
            b'\x1b$B-"$N7o$G$9!#\x1b(B\r\n',
        )
    )
    assert parsed.subject == "①自動返信"
    assert parsed.text.strip() == "②の件です。"


def test_shift_jis_body_labelled_iso_2022_jp_is_read():
    text = "お世話になっております。請求書をお送りします。"
    parsed = parse_message(
        raw(
            f"{BASE}\nSubject: x\nContent-Type: text/plain; charset=iso-2022-jp\n"
            "Content-Transfer-Encoding: 8bit",
            text.encode("cp932"),
        )
    )
    assert parsed.text == text


def test_undeclared_gbk_body_is_read_as_chinese():
    text = "您好，请把三月份的发票寄给我们。谢谢！"
    parsed = parse_message(raw(f"{BASE}\nSubject: x", text.encode("gbk")))
    assert parsed.text == text


def test_raw_gbk_display_name_and_file_name_use_the_messages_declared_charset():
    name, filename = "张伟", "报价单.pdf"
    attachment = (
        b'Content-Type: application/pdf; name="' + filename.encode("gbk") + b'"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n"
    )
    body = b"--XYZ\r\nContent-Type: text/plain; charset=gb2312\r\n\r\n"
    body += "请查收附件。".encode("gbk") + b"\r\n--XYZ\r\n" + attachment + b"--XYZ--\r\n"
    head = f"From: {name} <zhang@customer.test>\nTo: sales@acme.test\nSubject: x\n"
    head += 'Content-Type: multipart/mixed; boundary="XYZ"'
    parsed = parse_message(head.encode("gbk").replace(b"\n", b"\r\n") + b"\r\n\r\n" + body)
    assert parsed.from_name == name
    assert [a.filename for a in parsed.attachments] == [filename]
    assert parsed.text == "请查收附件。"


def test_raw_big5_file_name_is_read_with_the_big5_body_as_hint():
    head = b"From: a@customer.test\r\nSubject: x\r\n"
    head += b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
    body = b"--XYZ\r\nContent-Type: text/plain; charset=big5\r\n\r\n"
    body += "請查收附件。".encode("big5") + b"\r\n--XYZ\r\n"
    body += b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
    body += "報價單.pdf".encode("big5") + b'"\r\n\r\n%PDF\r\n--XYZ--\r\n'
    assert [a.filename for a in parse_message(head + body).attachments] == ["報價單.pdf"]


def test_raw_gbk_file_name_in_a_utf8_message_is_guessed_from_its_bytes():
    head = b"From: a@customer.test\r\nSubject: x\r\n"
    head += b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n'
    body = b"--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee attached\r\n--XYZ\r\n"
    body += b'Content-Type: application/pdf\r\nContent-Disposition: attachment; filename="'
    body += "合同2024.pdf".encode("gbk") + b'"\r\n\r\n%PDF\r\n--XYZ--\r\n'
    assert [a.filename for a in parse_message(head + body).attachments] == ["合同2024.pdf"]


# -- senders that are not quite addresses


@pytest.mark.parametrize(
    ("headers", "name", "address"),
    [
        ("From:\nFrom: Anna <anna@customer.test>", "Anna", "anna@customer.test"),
        ("From: Anna Schmidt", "Anna Schmidt", ""),
        ("From: Anna Schmidt <>", "Anna Schmidt", ""),
        ("From: Anna <anna>", "Anna", "anna"),
        ("From: MAILER-DAEMON", "MAILER-DAEMON", ""),
        ("From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?=", "Jürgen Müller", ""),
        # Comments are not part of the name (RFC 5322 appendix A.5)...
        (
            "From: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            "Pete",
            "pete@silly.test",
        ),
        ('From: "Jane Doe" (Sales) <jane@customer.test>', "Jane Doe", "jane@customer.test"),
        # An unquoted comma in the name (Outlook) and an escaped quote.
        ("From: Mueller, Juergen <j@customer.test>", "Mueller, Juergen", "j@customer.test"),
        ('From: "Anna \\"the boss\\" B" <a@customer.test>', 'Anna "the boss" B', "a@customer.test"),
        ("From: Anna <@relay.test:anna@customer.test>", "Anna", "anna@customer.test"),
        # ... except in the old form, where the comment is the only name there is.
        ("From: jane@customer.test (Jane Doe)", "Jane Doe", "jane@customer.test"),
    ],
)
def test_a_sender_that_is_not_quite_an_address_is_kept(headers, name, address):
    parsed = parse_message(raw(f"{headers}\nTo: sales@acme.test\nSubject: x"))
    assert (parsed.from_name, parsed.from_address) == (name, address)
    assert parsed.sender_header == "" and parsed.notice == ""


@pytest.mark.parametrize(
    ("headers", "header"),
    [
        ("Sender: Anna <anna@customer.test>\nReply-To: other@customer.test", "Sender"),
        ("Reply-To: Anna <anna@customer.test>\nReturn-Path: <bounce@esp.test>", "Reply-To"),
        ("From: <>\nReturn-Path: <anna@customer.test>", "Return-Path"),
    ],
)
def test_a_missing_from_falls_back_and_says_so(headers, header):
    parsed = parse_message(raw(f"{headers}\nTo: sales@acme.test\nSubject: x"))
    assert parsed.from_address == "anna@customer.test"
    assert parsed.sender_header == header
    assert parsed.notice == f"This email has no From: the sender is taken from its {header}."


def test_no_sender_at_all_stays_empty_without_a_notice():
    parsed = parse_message(raw("To: sales@acme.test\nSubject: x\nReturn-Path: <>"))
    assert (parsed.from_name, parsed.from_address, parsed.notice) == ("", "", "")


# -- bodies as mail clients show them


def test_text_and_html_parts_of_a_mixed_email_all_show_in_order():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nFirst the text.",
            b"Content-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=",
            b"Content-Type: text/html\r\n\r\n<p>Then <b>the HTML</b>.</p>",
            b"Content-Type: text/plain\r\n\r\nAnd a footer.",
        )
    )
    html = parsed.html
    assert html.index("First the text.") < html.index("cid:") < html.index("<b>the HTML</b>")
    assert html.index("<b>the HTML</b>") < html.index("And a footer.")
    text = parsed.text
    assert text.index("First the text.") < text.index("Then the HTML") < text.index("footer")
    (image,) = parsed.attachments
    assert image.is_inline and f"cid:{image.content_id}" in html


def test_a_delivery_report_shows_its_machine_part_as_a_block_not_a_part_bin():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nYour message could not be delivered.",
            b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.test"
            b"\r\n\r\nFinal-Recipient: rfc822; nobody@customer.test\r\nStatus: 5.1.1",
            subtype='report; report-type="delivery-status"',
        )
    )
    assert parsed.attachments == []
    assert parsed.text.startswith("Your message could not be delivered.\n\n")
    block = parsed.text.split("---------- Delivery report ----------\n", 1)[1]
    assert "Final-Recipient: rfc822; nobody@customer.test\nStatus: 5.1.1" in block


def test_a_uuencoded_file_in_a_text_body_becomes_its_attachment():
    body = b"See the file.\r\n\r\nbegin 644 hello.txt\r\n#:&D*\r\n`\r\nend\r\n"
    parsed = parse_message(raw(f"{BASE}\nSubject: x", body))
    assert parsed.text.strip() == "See the file."
    assert [(a.filename, a.data) for a in parsed.attachments] == [("hello.txt", b"hi\n")]


def test_base64_of_an_impossible_length_is_decoded_as_far_as_it_goes_and_flagged():
    parsed = parse_message(
        multipart(
            b"Content-Type: text/plain\r\n\r\nThe offer.",
            b'Content-Type: application/pdf; name="offer.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgaGVsbG8gd29ybGQx1",
        )
    )
    assert [(a.filename, a.data) for a in parsed.attachments] == [
        ("offer.pdf", b"%PDF-1.4 hello world1")
    ]
    assert "offer.pdf was cut short in transit" in parsed.notice


def test_an_unterminated_multipart_yields_no_phantom_attachment():
    for end in (b"", b"--XYZ\r\n"):
        body = b"--XYZ\r\nContent-Type: text/plain\r\n\r\nhi there\r\n" + end
        parsed = parse_message(
            raw(f'{BASE}\nSubject: x\nContent-Type: multipart/mixed; boundary="XYZ"', body)
        )
        assert (parsed.text.strip(), parsed.attachments) == ("hi there", [])
