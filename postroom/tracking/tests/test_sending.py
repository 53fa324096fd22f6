"""Tracked delivery: one copy per external recipient with its own image and links, the
organisation's own people one untracked copy, the plain text and Sent copy untouched."""

import pytest

from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import UserFactory
from postroom.tracking.models import TrackedEmail
from postroom.tracking.switches import do_set_mailbox_tracking, do_set_user_tracking

from .conftest import copy_for, html_of, image_path, link_paths, send_offer, text_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_external_recipient_gets_a_copy_of_their_own(sales, alice, smtp_server):
    UserFactory(username="bob", email="bob@acme.test")
    outbox = send_offer(
        sales, alice, to=["anna@customer.test", "carl@other.test"], cc=["bob@acme.test"]
    )
    assert outbox.status == OutboxMessage.Status.SENT
    mails = smtp_server.wait_for(3)
    assert sorted(tuple(m.rcpt_tos) for m in mails) == [
        ("anna@customer.test",), ("bob@acme.test",), ("carl@other.test",)
    ]  # fmt: skip
    anna, carl = (
        copy_for(smtp_server, "anna@customer.test"),
        copy_for(smtp_server, "carl@other.test"),
    )
    assert image_path(html_of(anna)) != image_path(html_of(carl))
    assert len(link_paths(html_of(anna))) == 2  # the two https links, not mailto/tel/#
    # The same email to everyone: headers as the Outbox has them.
    for mail in mails:
        assert mail.message["Message-ID"] == f"<{outbox.message_id}>"
        assert mail.message["To"] == "anna@customer.test, carl@other.test"
    assert TrackedEmail.objects.get(outbox=outbox).delivered


def test_links_other_than_http_are_left_alone_and_the_text_keeps_the_originals(
    sales, alice, smtp_server
):
    send_offer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    html = html_of(mail)
    assert 'href="mailto:sales@acme.test"' in html
    assert 'href="tel:+4930123"' in html
    assert 'href="#terms"' in html
    assert "shop.test" not in html  # every http(s) link goes through Postroom
    text = text_of(mail)
    assert "https://shop.test/offer?id=7&lang=en" in text
    assert "/t/" not in text


def test_the_organisations_own_people_get_an_untracked_copy(sales, alice, smtp_server):
    UserFactory(username="bob", email="bob@acme.test")
    outbox = send_offer(sales, alice, to=["bob@acme.test"])
    [mail] = smtp_server.wait_for(1)
    assert "/t/o/" not in html_of(mail)
    assert mail.data.replace(b"\r\n", b"\n") == bytes(outbox.raw).replace(b"\r\n", b"\n")
    assert not TrackedEmail.objects.filter(outbox=outbox).exists()


def test_the_outbox_and_sent_copy_carry_no_tracking(sales, alice, smtp_server):
    outbox = send_offer(sales, alice)
    assert b"/t/o/" not in bytes(outbox.raw)
    assert "/t/o/" not in (outbox.stored_message.html_body or "")


@pytest.mark.parametrize("switch", ["email", "mailbox", "user"])
def test_tracking_is_off_per_email_mailbox_and_user(sales, alice, smtp_server, switch):
    options = {}
    if switch == "email":
        options["track"] = False
    elif switch == "mailbox":
        do_set_mailbox_tracking(sales, False)
    else:
        do_set_user_tracking(alice, False)
    outbox = send_offer(sales, alice, **options)
    [mail] = smtp_server.wait_for(1)
    assert "/t/o/" not in html_of(mail)
    assert "https://shop.test/about" in html_of(mail)
    assert not TrackedEmail.objects.filter(outbox=outbox).exists()


def test_a_retry_sends_only_the_copies_not_taken_yet(sales, alice, smtp_server, settings):
    settings.POSTROOM = {**settings.POSTROOM, "SEND_RETRY_BASE": 0}
    # Once the first copy is taken, the next copy's RCPT gets a temporary failure.
    failed = []

    def fail_once(mail):
        if not failed:
            failed.append(mail)
            smtp_server.fail_next(451, "busy", at="RCPT")

    smtp_server.on_accept(fail_once)
    outbox = send_offer(sales, alice, to=["anna@customer.test", "carl@other.test"])
    assert outbox.status == OutboxMessage.Status.SENT
    assert outbox.attempts == 2
    mails = smtp_server.wait_for(2)
    # Anna's copy went out once, not again with the retry.
    assert sorted(r for m in mails for r in m.rcpt_tos) == ["anna@customer.test", "carl@other.test"]
