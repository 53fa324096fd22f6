"""A bounce of an email Postroom sent is linked to its Outbox row with the reason, and
shown on the conversation, the Outbox page and the CRM timeline."""

import pytest
from django.urls import reverse

from postroom.crm.models import Activity
from postroom.mail.models import ConversationMessage, Message
from postroom.outbound import delivery
from postroom.outbound.actions import Composition, do_send_email
from postroom.outbound.bounces import bounce_reason
from postroom.outbound.models import OutboxMessage

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)


DIAGNOSTIC = "smtp; 550 5.1.1 <anna@customer.test>: Recipient address rejected: User unknown"


def dsn(message_id: str, *, to: str, diagnostic: str = DIAGNOSTIC) -> bytes:
    """A delivery-status report (RFC 3464) as Postfix writes it, with the headers of the
    returned email."""
    return (
        "From: MAILER-DAEMON@mx.customer.test (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.customer.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        "I'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        "Final-Recipient: rfc822; anna@customer.test\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: {diagnostic}\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        "From: sales@acme.test\r\nTo: anna@customer.test\r\n"
        f"Message-ID: <{message_id}>\r\n"
        "\r\n--B--\r\n"
    ).encode()


def test_the_reason_is_read_from_a_delivery_status_report():
    assert bounce_reason(dsn("x@acme.test", to="sales@acme.test")) == (
        "anna@customer.test: 550 5.1.1 <anna@customer.test>: Recipient address rejected: "
        "User unknown"
    )


def test_the_reason_of_a_bounce_without_a_report_is_its_first_status_line():
    raw = (
        b"From: MAILER-DAEMON@x.test\r\nSubject: failure notice\r\n\r\n"
        b"Hi. This is the qmail-send program.\r\n<anna@customer.test>:\r\n"
        b"Remote host said: 552 5.2.2 mailbox full\r\n"
    )
    assert bounce_reason(raw) == "552 5.2.2 mailbox full"


def _sent_reply(sales, alice):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    outbox = do_send_email(
        sales,
        Composition(to=["anna@customer.test"], subject="Re: Chairs", body="4,000 €"),
        acting_user=alice,
        kind=OutboxMessage.Kind.REPLY,
        parent=parent,
        conversation=conversation,
    )
    return outbox, conversation


def test_a_bounce_is_linked_and_shown_everywhere(client, sales, alice, smtp_server):
    outbox, conversation = _sent_reply(sales, alice)
    run_jobs()
    outbox.refresh_from_db()
    bounce = receive(sales, raw=dsn(outbox.message_id, to=sales.address))

    assert bounce.kind == Message.Kind.BOUNCE and bounce.bounce_of == outbox.stored_message
    outbox.refresh_from_db()
    assert outbox.bounce == bounce
    assert outbox.bounce_reason.startswith("anna@customer.test: 550 5.1.1")

    client.force_login(alice)
    page = client.get(reverse("web:conversation", args=[conversation.pk])).content.decode()
    assert "bounced: anna@customer.test: 550 5.1.1" in page
    listing = client.get(reverse("web:outbox", args=[sales.pk])).content.decode()
    assert "bounced: anna@customer.test: 550 5.1.1" in listing

    # On the CRM items of the sent email, beside it.
    sent_items = {
        (e.content_type_id, e.object_id)
        for e in Activity.objects.get(message=outbox.stored_message).entries.all()
    }
    bounce_items = {
        (e.content_type_id, e.object_id) for e in Activity.objects.get(message=bounce).entries.all()
    }
    assert sent_items and bounce_items == sent_items


def test_a_bounce_that_beats_the_filing_of_the_sent_email_is_linked_when_it_is_filed(
    sales, alice, smtp_server
):
    outbox, _ = _sent_reply(sales, alice)
    delivery.deliver(outbox.pk)  # sent; saving it is a job not run yet
    bounce = receive(sales, raw=dsn(outbox.message_id, to=sales.address))
    assert bounce.bounce_of is None  # Postroom did not hold the sent email yet
    run_jobs()
    outbox.refresh_from_db()
    bounce.refresh_from_db()
    assert outbox.bounce == bounce and bounce.bounce_of == outbox.stored_message
    assert "User unknown" in outbox.bounce_reason


def test_a_bounce_stored_in_bulk_is_linked_by_the_housekeeping_job(sales, alice, smtp_server):
    from postroom.outbound.jobs import recover_outbox

    outbox, _ = _sent_reply(sales, alice)
    run_jobs()
    outbox.refresh_from_db()
    bounce = receive(sales, raw=dsn(outbox.message_id, to=sales.address))
    # As the set-wise ingest leaves it: bounce_of written by an UPDATE, no post_save.
    OutboxMessage.objects.filter(pk=outbox.pk).update(bounce=None, bounce_reason="")
    recover_outbox.enqueue()
    run_jobs()
    outbox.refresh_from_db()
    assert outbox.bounce == bounce
    assert "User unknown" in outbox.bounce_reason
