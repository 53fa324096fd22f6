import pytest

from postroom.mail.parse import ParseError, normalize_subject, parse_message, read_envelope
from postroom.testing.mail import make_email


def test_it_reads_sender_recipients_and_body():
    parsed = parse_message(make_email(sender="Anna <Anna@Customer.test>", body="Hi there"))
    assert (parsed.from_name, parsed.from_address) == ("Anna", "anna@customer.test")
    assert parsed.to == ["sales@acme.test"]
    assert parsed.text.strip() == "Hi there"
    assert parsed.date is not None and parsed.date.tzinfo is not None


def test_it_uses_the_message_id_as_identity():
    envelope = read_envelope(make_email(message_id="<abc@x.test>"))
    assert envelope.message_id == "abc@x.test"
    assert envelope.identity == "mid:abc@x.test"


def test_it_gives_two_copies_without_message_id_the_same_identity():
    raw = make_email().replace(b"Message-ID:", b"X-Old-Id:")
    first = read_envelope(b"Received: from a\r\nDelivered-To: one@acme.test\r\n" + raw)
    second = read_envelope(b"Received: from b\r\nDelivered-To: two@acme.test\r\n" + raw)
    assert first.identity.startswith("hash:")
    assert first.identity == second.identity


def test_it_quarantines_bytes_that_are_not_an_email():
    with pytest.raises(ParseError):
        parse_message(b"\x00\x01\x02 this is not mail at all \xff\xfe")


def test_it_survives_an_unknown_charset():
    raw = (
        b"From: a@b.test\r\nSubject: x\r\nContent-Type: text/plain; charset=x-no-such\r\n\r\n"
        b"caf\xe9\r\n"
    )
    assert "caf" in parse_message(raw).text


def test_it_tolerates_a_broken_date():
    raw = b"From: a@b.test\r\nDate: yesterday-ish\r\nSubject: x\r\n\r\nbody\r\n"
    assert parse_message(raw).date is None


@pytest.mark.parametrize(
    "subject",
    ["Re: Price", "RE: re: Price", "Fwd: Price", "AW: Price", "SV: Price", "Ответ: Price"],
)
def test_it_strips_reply_prefixes(subject):
    assert normalize_subject(subject) == "price"
