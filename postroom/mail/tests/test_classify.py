"""Classification of machine mail: auto-replies, mailing lists, bounces (no database)."""

import pytest

from postroom.mail.classify import Kind
from postroom.mail.parse import parse_message


def email(headers: str = "", *, sender: str = "Anna <anna@customer.test>", subject: str = "Hi"):
    lines = [f"From: {sender}", "To: sales@acme.test", f"Subject: {subject}"]
    lines += [line for line in headers.strip().splitlines() if line]
    return ("\r\n".join(lines) + "\r\n\r\nHello\r\n").encode()


def test_mail_from_a_person_is_normal():
    parsed = parse_message(email())
    assert (parsed.kind, parsed.kind_reason) == (Kind.NORMAL, "")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated", "Auto-Submitted: auto-generated"),
        ("X-Autoreply: yes", "x-autoreply"),
        ("X-Autorespond: Vacation", "x-autorespond"),
        ("Precedence: auto_reply", "Precedence: auto_reply"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: junk", "Precedence: junk"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: all"),
        (
            "X-Auto-Response-Suppress: DR, OOF, AutoReply",
            "X-Auto-Response-Suppress: dr, oof, autoreply",
        ),
        (
            "Content-Type: multipart/report; report-type=disposition-notification; boundary=x",
            "a read receipt",
        ),
    ],
)
def test_it_recognises_auto_replies_by_their_headers(headers, reason):
    parsed = parse_message(email(headers))
    assert (parsed.kind, parsed.kind_reason) == (Kind.AUTO_REPLY, reason)


def test_auto_submitted_no_is_a_person():
    assert parse_message(email("Auto-Submitted: no")).kind == Kind.NORMAL


@pytest.mark.parametrize(
    "subject",
    [
        "Automatic reply: Your order",
        "Out of Office: Price request",
        "Out of Office AutoReply: Price request",
        "Autoreply: hello",
        "Abwesenheitsnotiz: Angebot",
        "Automatische Antwort: Angebot",
        "Réponse automatique : Devis",
        "Respuesta automática: Pedido",
        "Risposta automatica: Ordine",
        "Automatisch antwoord: Offerte",
        "Autosvar: Order",
        "Odpowiedź automatyczna: Zamówienie",
        "Автоматический ответ: Счёт",
        "Автоответ: Счёт",
        "自動応答: 注文",
        "自动回复: 订单",
        "Out of office",
    ],
)
def test_it_recognises_out_of_office_subjects_in_several_languages(subject):
    parsed = parse_message(email(subject=subject))
    assert (parsed.kind, parsed.kind_reason) == (Kind.AUTO_REPLY, "an automatic-reply subject")


@pytest.mark.parametrize(
    "subject",
    ["Out of office next week?", "Re: automatic reply settings", "Question about autoreply"],
)
def test_a_person_writing_about_absence_is_not_an_auto_reply(subject):
    assert parse_message(email(subject=subject)).kind == Kind.NORMAL


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("List-Id: Sales talk <sales.lists.test>", "List-Id"),
        ("List-Unsubscribe: <mailto:leave@lists.test>", "List-Unsubscribe"),
        ("List-Post: <mailto:sales@lists.test>", "List-Post"),
        ("Precedence: list", "Precedence: list"),
    ],
)
def test_it_recognises_mailing_lists(headers, reason):
    parsed = parse_message(email(headers))
    assert (parsed.kind, parsed.kind_reason) == (Kind.LIST, reason)


DSN = b"""From: Mail Delivery System <MAILER-DAEMON@mx.acme.test>\r
To: sales@acme.test\r
Subject: Undelivered Mail Returned to Sender\r
Message-ID: <bounce-1@mx.acme.test>\r
Auto-Submitted: auto-replied\r
Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r
\r
--B\r
Content-Type: text/plain\r
\r
I'm sorry to have to inform you that your message could not be delivered.\r
--B\r
Content-Type: message/delivery-status\r
\r
Reporting-MTA: dns; mx.acme.test\r
\r
Final-Recipient: rfc822; nobody@customer.test\r
Action: failed\r
Status: 5.1.1\r
--B\r
Content-Type: message/rfc822\r
\r
From: sales@acme.test\r
To: nobody@customer.test\r
Subject: Our offer\r
Message-ID: <offer-7@acme.test>\r
\r
The offer.\r
--B--\r
"""


def test_it_recognises_a_delivery_status_report_and_the_message_that_bounced():
    parsed = parse_message(DSN)
    # A bounce, although it also says Auto-Submitted: the more specific kind wins.
    assert parsed.kind == Kind.BOUNCE
    assert parsed.kind_reason == "a delivery-status report"
    assert parsed.bounced_message_id == "offer-7@acme.test"


def test_it_reads_the_bounced_message_id_from_returned_headers():
    raw = DSN.replace(b"Content-Type: message/rfc822", b"Content-Type: text/rfc822-headers")
    assert parse_message(raw).bounced_message_id == "offer-7@acme.test"


def test_it_recognises_a_plain_text_bounce_from_mailer_daemon():
    raw = (
        b"From: MAILER-DAEMON@mx.customer.test\r\nTo: sales@acme.test\r\n"
        b"Subject: failure notice\r\n\r\nSorry, it did not work.\r\n\r\n"
        b"--- Below this line is a copy of the message.\r\n\r\n"
        b"From: sales@acme.test\r\nMessage-ID: <offer-8@acme.test>\r\nSubject: Offer\r\n"
    )
    parsed = parse_message(raw)
    assert (parsed.kind, parsed.kind_reason) == (Kind.BOUNCE, "sent by mailer-daemon")
    assert parsed.bounced_message_id == "offer-8@acme.test"


@pytest.mark.parametrize(
    ("headers", "sender", "subject", "reason"),
    [
        ("X-Failed-Recipients: a@b.test", "x@mx.test", "Hi", "X-Failed-Recipients"),
        ("", "postmaster@mx.test", "Delivery Status Notification (Failure)", "a bounce subject"),
        ("Return-Path: <>", "Mail System <root@mx.test>", "Undeliverable: Offer", "Return-Path"),
    ],
)
def test_it_recognises_other_bounces(headers, sender, subject, reason):
    parsed = parse_message(email(headers, sender=sender, subject=subject))
    assert parsed.kind == Kind.BOUNCE
    assert reason in parsed.kind_reason


def test_a_person_writing_undeliverable_is_not_a_bounce():
    assert parse_message(email(subject="Undeliverable goods, refund?")).kind == Kind.NORMAL


def test_x_loop_marks_machine_mail():
    parsed = parse_message(email("X-Loop: helpdesk@vendor.test"))
    assert (parsed.kind, parsed.kind_reason) == (Kind.AUTO_REPLY, "X-Loop")


def test_x_loop_on_a_list_post_is_a_list_post():
    parsed = parse_message(email("X-Loop: dev@lists.test\nList-Id: <dev.lists.test>"))
    assert (parsed.kind, parsed.kind_reason) == (Kind.LIST, "List-Id")


def test_precedence_bulk_with_list_unsubscribe_is_a_list_post_not_an_auto_reply():
    newsletter = "Precedence: bulk\nList-Unsubscribe: <https://news.test/u/1>"
    parsed = parse_message(email(newsletter))
    assert (parsed.kind, parsed.kind_reason) == (Kind.LIST, "List-Unsubscribe")
    # Exchange's "no out-of-office replies, please" on a newsletter does not change it.
    parsed = parse_message(email(newsletter + "\nX-Auto-Response-Suppress: OOF, AutoReply"))
    assert parsed.kind == Kind.LIST


def test_precedence_bulk_with_an_auto_reply_marker_stays_an_auto_reply():
    headers = "Precedence: bulk\nList-Unsubscribe: <https://news.test/u/1>"
    headers += "\nAuto-Submitted: auto-replied"
    assert parse_message(email(headers)).kind == Kind.AUTO_REPLY
    parsed = parse_message(email(headers.rsplit("\n", 1)[0], subject="Automatic reply: Hi"))
    assert parsed.kind == Kind.AUTO_REPLY
