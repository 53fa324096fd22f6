"""Composing: subjects, recipients, quotes and the MIME bytes, without a database."""

import email
from datetime import UTC, datetime
from email import policy

import pytest

from postroom.outbound import compose

ORIGINAL = compose.Original(
    message_id="ask@customer.test",
    references=["first@customer.test"],
    subject="Price request",
    from_name="Anna Client",
    from_address="anna@customer.test",
    reply_to=[],
    to=["sales@acme.test", "bob@customer.test"],
    cc=["carol@customer.test", "alice@acme.test"],
    date=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    text="What does it cost?\nThanks",
)


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Price request", "Re: Price request"),
        ("Re: Price request", "Re: Price request"),
        ("RE: Re: AW: Price request", "Re: Price request"),
        ("Re[2]: Price request", "Re: Price request"),
        ("Fwd: Price request", "Re: Fwd: Price request"),
        ("", "Re:"),
    ],
)
def test_it_adds_one_reply_prefix(subject, expected):
    assert compose.reply_subject(subject) == expected


def test_it_adds_one_forward_prefix():
    assert compose.forward_subject("Price") == "Fwd: Price"
    assert compose.forward_subject("FW: Price") == "FW: Price"


def test_it_reads_typed_addresses():
    typed = 'Anna <anna@x.test>, bob@y.test; "Doe, J" <j@d.test>,,'
    assert compose.parse_addresses(typed) == [
        "Anna <anna@x.test>",
        "bob@y.test",
        '"Doe, J" <j@d.test>',
    ]
    assert compose.parse_addresses("  ") == []


@pytest.mark.parametrize("typed", ["anna", "anna@x.test bob@y.test", "Anna <anna@x"])
def test_it_names_an_address_it_cannot_read(typed):
    with pytest.raises(compose.AddressError, match="is not an email address"):
        compose.parse_addresses(typed)


def test_a_reply_goes_to_the_sender():
    to, cc = compose.reply_recipients(ORIGINAL, ["sales@acme.test"], reply_all=False)
    assert (to, cc) == (["Anna Client <anna@customer.test>"], [])


def test_a_reply_goes_to_the_reply_to_address():
    original = compose.Original(**{**ORIGINAL.__dict__, "reply_to": ["Desk <desk@customer.test>"]})
    to, _ = compose.reply_recipients(original, ["sales@acme.test"], reply_all=False)
    assert to == ["Desk <desk@customer.test>"]


def test_reply_all_keeps_everyone_but_us():
    ours = ["sales@acme.test", "alice@acme.test"]
    to, cc = compose.reply_recipients(ORIGINAL, ours, reply_all=True)
    assert to == ["Anna Client <anna@customer.test>", "bob@customer.test"]
    assert cc == ["carol@customer.test"]


def test_a_reply_to_our_own_message_goes_to_its_recipients():
    ours = compose.Original(**{**ORIGINAL.__dict__, "from_address": "sales@acme.test"})
    to, _ = compose.reply_recipients(ours, ["sales@acme.test"], reply_all=False)
    assert to == ["bob@customer.test"]


def test_the_quote_names_the_sender_and_marks_each_line():
    quoted = compose.quote(ORIGINAL)
    assert "On Mon, 02 Nov 2026 at 09:30, Anna Client wrote:" in quoted
    assert "> What does it cost?\n> Thanks" in quoted


def test_an_html_only_original_is_quoted_as_text():
    original = compose.Original(**{**ORIGINAL.__dict__, "text": "", "html": "<p>Hi &amp; bye</p>"})
    assert "> Hi & bye" in compose.quote(original)


def test_references_end_with_the_original_and_stay_short():
    assert compose.references_for(ORIGINAL) == ["first@customer.test", "ask@customer.test"]
    long = compose.Original(**{**ORIGINAL.__dict__, "references": [f"r{i}@x" for i in range(50)]})
    chain = compose.references_for(long)
    assert len(chain) == compose.MAX_REFERENCES
    assert chain[0] == "r0@x" and chain[-1] == "ask@customer.test"


def _built(**overrides) -> email.message.EmailMessage:
    fields = {
        "from_name": "Alice Smith at Sales",
        "from_address": "sales@acme.test",
        "to": ["Anna Client <anna@customer.test>"],
        "cc": ["bob@customer.test"],
        "subject": "Re: Price request",
        "body": "It costs <5 €>.\r\n\r\n> What does it cost?",
        "message_id": compose.new_message_id("sales@acme.test"),
        "date": datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        "in_reply_to": "ask@customer.test",
        "references": ["first@customer.test", "ask@customer.test"],
    }
    raw = compose.build_email(**{**fields, **overrides})
    assert b"\r\n" in raw and not any(byte > 127 for byte in raw), "7-bit, CRLF"
    return email.message_from_bytes(raw, policy=policy.default)


def test_the_email_has_the_threading_headers_and_the_shared_address():
    msg = _built()
    assert msg["From"] == "Alice Smith at Sales <sales@acme.test>"
    assert msg["From"].addresses[0].display_name == "Alice Smith at Sales"
    assert msg["In-Reply-To"] == "<ask@customer.test>"
    assert msg["References"] == "<first@customer.test> <ask@customer.test>"
    assert msg["Message-ID"].endswith("@acme.test>")
    assert msg["Cc"] == "bob@customer.test"


def test_the_email_has_a_text_part_and_an_escaped_html_part():
    msg = _built()
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "It costs <5 €>." in text
    assert "It costs &lt;5 €&gt;.<br>" in html
    assert "&gt; What does it cost?" in html


def test_a_name_with_commas_and_accents_survives():
    msg = _built(from_name="Zoë, Sales at ACME")
    assert msg["From"].addresses[0].display_name == "Zoë, Sales at ACME"
    assert msg["From"].addresses[0].addr_spec == "sales@acme.test"


# RFC 6532: a sender with a UTF-8 address and Message-ID, as SMTPUTF8 mail carries them.
INTERNATIONAL = compose.Original(
    message_id="ünïcode.2@exämple.test",
    references=["röot@exämple.test"],
    subject="Grüße",
    from_name="Jösé Müller",
    from_address="jösé@exämple.test",
    reply_to=[],
    to=["sales@acme.test"],
    cc=[],
    date=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    text="Hallo",
)


def test_a_typed_utf8_address_is_an_address():
    assert compose.parse_addresses("Jösé <jösé@exämple.test>, bob@x.test") == [
        "Jösé <jösé@exämple.test>",
        "bob@x.test",
    ]
    for typed in ("jö sé@exämple.test", "jösé@", "jösé"):
        with pytest.raises(compose.AddressError):
            compose.parse_addresses(typed)


def test_a_reply_to_a_utf8_email_names_it_in_utf8_and_goes_to_its_utf8_sender():
    to, _cc = compose.reply_recipients(INTERNATIONAL, ["sales@acme.test"], reply_all=False)
    assert to == ["Jösé Müller <jösé@exämple.test>"]
    raw = compose.build_email(
        from_name="Sales",
        from_address="sales@acme.test",
        to=to,
        subject=compose.reply_subject(INTERNATIONAL.subject),
        body="Danke",
        message_id=compose.new_message_id("sales@acme.test"),
        date=datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
        in_reply_to=INTERNATIONAL.message_id,
        references=compose.references_for(INTERNATIONAL),
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    # Raw UTF-8, never an encoded word: only the same bytes name the same email.
    assert "In-Reply-To: <ünïcode.2@exämple.test>" in head
    assert "References: <röot@exämple.test> <ünïcode.2@exämple.test>" in head
    assert "To: Jösé Müller <jösé@exämple.test>" in head
    assert "=?" not in head.split("Subject:")[0]


def test_our_message_ids_stay_ascii_for_an_internationalised_domain():
    made = compose.new_message_id("info@bücher.test")
    assert made.isascii() and made.endswith("@xn--bcher-kva.test")
