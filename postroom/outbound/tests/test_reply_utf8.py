"""Issue 20, point 7 end to end on the sending side: a reply to an internationalised
email (RFC 6532: UTF-8 sender address and Message-ID) is addressed to the UTF-8 address,
names the email it answers in UTF-8 (In-Reply-To, References) and goes out with SMTPUTF8
to a real SMTP server; the sent copy threads with the original."""

import pytest
from django.urls import reverse

from postroom.mail.models import ConversationMessage, Message
from postroom.mail.parse import parse_message

from .conftest import receive, run_jobs

ORIGINAL = (
    "From: Jösé Müller <jösé@exämple.test>\r\nTo: sales@acme.test\r\n"
    "Subject: Grüße\r\nMessage-ID: <ünïcode.1@exämple.test>\r\n"
    "References: <röot@exämple.test>\r\n"
    "Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHallo, was kostet es?\r\n"
).encode()


@pytest.mark.django_db(transaction=True)
def test_a_reply_to_a_utf8_email_carries_its_utf8_ids_and_goes_with_smtputf8(
    client, sales, alice, smtp_server
):
    original = receive(sales, ORIGINAL)
    assert original.message_id == "ünïcode.1@exämple.test"
    conversation = ConversationMessage.objects.get(message=original).conversation

    client.force_login(alice)
    url = reverse("web:reply", args=[conversation.pk])
    page = client.get(url)
    initial = page.context["form"].initial
    assert "jösé@exämple.test" in initial["to"]
    form = {name: initial.get(name, "") for name in ("to", "cc", "subject", "token")}
    form.update(body_html="<div>Es kostet 40 €.</div>", seen=page.context["seen"])
    client.post(url, form)
    run_jobs()

    [sent] = smtp_server.wait_for(1)
    assert sent.rcpt_tos == ["jösé@exämple.test"]
    assert "SMTPUTF8" in sent.mail_options
    reply = parse_message(sent.data)
    assert reply.in_reply_to == "ünïcode.1@exämple.test"
    assert reply.references == ["röot@exämple.test", "ünïcode.1@exämple.test"]
    assert reply.to == ["jösé@exämple.test"]
    # The copy saved to Sent is stored, and threads with the email it answers.
    sent_copy = Message.objects.get(in_reply_to="ünïcode.1@exämple.test")
    assert ConversationMessage.objects.get(message=sent_copy).conversation == conversation
