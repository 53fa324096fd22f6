"""Storing and parsing: reused Message-IDs, attachments stored once, bounces, quarantine."""

import base64

import pytest

from postroom.mail import attachments, ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, reprocess, store_copies, store_copy
from postroom.mail.models import (
    Attachment,
    AttachmentBlob,
    Conversation,
    ConversationMessage,
    Message,
    MessageCopy,
)
from postroom.mail.threads import thread_message
from postroom.mailboxes.models import Folder
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def inbox() -> Folder:
    return MailboxFactory().folders.get(name="INBOX")


def arrive(folder: Folder, uid: int, raw: bytes) -> Message:
    return parse_stored(store_copy(folder, 7, FetchedMessage(uid=uid, raw=raw)).message)


# -- one email once -----------------------------------------------------------------------


def test_it_gives_a_reused_message_id_its_own_identity(inbox):
    first = arrive(inbox, 1, make_email(message_id="<same@shop.test>", subject="Order 1"))
    second = arrive(inbox, 2, make_email(message_id="<same@shop.test>", subject="Order 2"))
    assert first.pk != second.pk
    assert first.identity == "mid:same@shop.test"
    assert second.identity == f"mid:same@shop.test#{second.content_hash[:16]}"
    assert (first.subject, second.subject) == ("Order 1", "Order 2")
    assert second.message_id == "same@shop.test"  # still found by its Message-ID


def test_it_tells_apart_reused_message_ids_within_one_batch(inbox):
    ids = store_copies(
        inbox,
        7,
        [
            FetchedMessage(1, make_email(message_id="<same@shop.test>", subject="Order 1")),
            FetchedMessage(2, make_email(message_id="<same@shop.test>", subject="Order 2")),
        ],
    )
    assert len(ids) == 2
    assert Message.objects.count() == 2


def test_it_still_deduplicates_copies_of_an_email_with_a_reused_message_id(inbox):
    other = MailboxFactory().folders.get(name="INBOX")
    arrive(inbox, 1, make_email(message_id="<same@shop.test>", subject="Order 1"))
    order_2 = make_email(message_id="<same@shop.test>", subject="Order 2")
    second = store_copy(inbox, 7, FetchedMessage(2, order_2)).message
    # The same second email seen again, through another mailbox, with its own Received.
    again = store_copy(other, 9, FetchedMessage(5, b"Received: from mx2\r\n" + order_2)).message
    assert again.pk == second.pk
    assert Message.objects.count() == 2
    assert MessageCopy.objects.count() == 3


def test_it_does_not_split_an_email_over_the_size_limit(inbox):
    full = make_email(message_id="<big@customer.test>", body="x" * 1000)
    headers_only = full.split(b"\n\n")[0] + b"\n\n"
    other = MailboxFactory().folders.get(name="INBOX")
    first = store_copy(inbox, 7, FetchedMessage(1, full)).message
    second = store_copy(other, 7, FetchedMessage(1, headers_only, truncated_size=2000)).message
    assert first.pk == second.pk


# -- attachments --------------------------------------------------------------------------


def with_attachment(data: bytes, name: str, **fields) -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    for header, value in {
        "From": "Anna <anna@customer.test>",
        "To": "sales@acme.test",
        "Subject": "Files",
        **fields,
    }.items():
        msg[header] = value
    msg.set_content("See attached.")
    msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def test_it_stores_attachments_once_by_sha256(inbox):
    pdf = b"%PDF-1.4 the same price list"
    one = arrive(inbox, 1, with_attachment(pdf, "Preisliste März.pdf"))
    two = arrive(inbox, 2, with_attachment(pdf, "prices.pdf", Subject="Again"))
    first, second = one.attachments.get(), two.attachments.get()
    assert (first.filename, first.content_type, first.size) == (
        "Preisliste März.pdf",
        "application/pdf",
        len(pdf),
    )
    assert first.sha256 == second.sha256
    assert AttachmentBlob.objects.count() == 1
    assert attachments.read(second) == pdf


def test_reparsing_replaces_attachments_instead_of_doubling_them(inbox):
    message = arrive(inbox, 1, with_attachment(b"%PDF", "a.pdf"))
    message.status = Message.Status.RECEIVED
    parse_stored(message)
    assert Attachment.objects.filter(message=message).count() == 1


def test_it_marks_inline_images(inbox):
    png = b"\x89PNG\r\n\x1a\nfake"
    raw = (
        b"From: a@customer.test\r\nSubject: logo\r\n"
        b'Content-Type: multipart/related; boundary="B"\r\n\r\n--B\r\n'
        b'Content-Type: text/html\r\n\r\n<img src="cid:logo@a">\r\n--B\r\n'
        b"Content-Type: image/png\r\nContent-ID: <logo@a>\r\nContent-Transfer-Encoding: base64"
        b"\r\n\r\n" + base64.encodebytes(png) + b"--B--\r\n"
    )
    image = arrive(inbox, 1, raw).attachments.get()
    assert (image.content_id, image.is_inline, image.filename) == ("logo@a", True, "part-1.png")


# -- classification and bounces -----------------------------------------------------------


def test_it_stores_the_kind_and_links_a_bounce_to_the_message_that_bounced(inbox):
    sent = arrive(inbox, 1, make_email(message_id="<offer-7@acme.test>", subject="Our offer"))
    bounce = arrive(
        inbox,
        2,
        b"From: MAILER-DAEMON@mx.acme.test\r\nTo: sales@acme.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nNo such user.\r\n"
        b"--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"Message-ID: <offer-7@acme.test>\r\nSubject: Our offer\r\n--B--\r\n",
    )
    assert (bounce.kind, bounce.bounce_of) == (Message.Kind.BOUNCE, sent)
    assert list(sent.bounces.all()) == [bounce]
    # The bounce shows in the conversation of the email that bounced.
    conversation = thread_message(sent, inbox.mailbox)
    assert thread_message(bounce, inbox.mailbox) == conversation


def test_it_stores_auto_replies_as_such(inbox):
    message = arrive(inbox, 1, make_email(subject="Automatic reply: Price request"))
    assert message.kind == Message.Kind.AUTO_REPLY


# -- quarantine ---------------------------------------------------------------------------


def test_a_parser_bug_quarantines_the_message_with_the_error(inbox, monkeypatch):
    def broken(raw):
        raise RuntimeError("parser bug")

    monkeypatch.setattr(ingest, "parse_message", broken)
    message = arrive(inbox, 1, make_email())
    assert message.status == Message.Status.QUARANTINED
    assert "parser bug" in message.error


def test_reprocess_parses_a_quarantined_message_after_a_fix(inbox, monkeypatch):
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    message = arrive(inbox, 1, make_email(subject="Price request"))
    conversation = thread_message(message, inbox.mailbox)  # shown in its mailbox, unread
    assert conversation.subject == ""
    monkeypatch.setattr(ingest, "parse_message", original)

    message = reprocess(message)
    assert (message.status, message.error, message.subject) == ("parsed", "", "Price request")
    conversation.refresh_from_db()
    assert (conversation.subject, conversation.normalized_subject) == (
        "Price request",
        "price request",
    )


def test_reprocess_moves_a_reply_into_its_conversation(inbox, monkeypatch):
    question = arrive(inbox, 1, make_email(message_id="<q@customer.test>", subject="Offer"))
    conversation = thread_message(question, inbox.mailbox)
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    reply = arrive(inbox, 2, make_email(subject="Re: Offer", in_reply_to="<q@customer.test>"))
    alone = thread_message(reply, inbox.mailbox)
    assert alone != conversation
    monkeypatch.setattr(ingest, "parse_message", original)

    reprocess(reply)
    assert ConversationMessage.objects.get(message=reply).conversation == conversation
    assert not Conversation.objects.filter(pk=alone.pk).exists()
    conversation.refresh_from_db()
    assert conversation.message_count == 2


# -- senders (issue 20) -------------------------------------------------------------------


def test_a_sender_taken_from_reply_to_is_said_on_the_message(inbox):
    raw = b"Reply-To: Anna <anna@customer.test>\r\nTo: sales@acme.test\r\nSubject: Hi\r\n\r\nx\r\n"
    message = arrive(inbox, 1, raw)
    assert (message.status, message.from_name, message.from_address) == (
        Message.Status.PARSED,
        "Anna",
        "anna@customer.test",
    )
    assert message.error == "This email has no From: the sender is taken from its Reply-To."


def test_a_sender_with_a_name_only_is_stored_without_a_notice(inbox):
    message = arrive(inbox, 1, b"From: Anna Schmidt <>\r\nSubject: Hi\r\n\r\nx\r\n")
    assert (message.from_name, message.from_address, message.error) == ("Anna Schmidt", "", "")
