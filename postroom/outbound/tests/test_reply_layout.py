"""Replies look as written (issue 19, point 3): a reply or forward quotes the original
with its paragraphs and lines, and the email as sent, its copy in the conversation, its
timeline snippet and its search snippet keep them. Through a real SMTP server and
Dovecot, as the other outbound tests."""

from email.message import EmailMessage

import pytest
from django.urls import reverse

from postroom.crm.models import Lead
from postroom.mail.models import ConversationMessage
from postroom.mail.search import body_text, parse_query, snippet
from postroom.outbound import richtext
from postroom.outbound.models import OutboxMessage
from postroom.testing.factories import UserFactory
from postroom.web.crm_timeline import timeline_for

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

PLAIN = (
    "Hello team,\n\nCould you send a quote for 40 chairs?\nDelivery to Berlin, please.\n\n"
    "Best regards,\nAnna Client\nACME GmbH\n+49 30 1234567\n"
)
QUOTED = (
    "> Hello team,\n>\n> Could you send a quote for 40 chairs?\n> Delivery to Berlin, please.\n"
    ">\n> Best regards,\n> Anna Client\n> ACME GmbH\n> +49 30 1234567\n"
)
HTML = (
    "<html><body><p>Hello team,</p><p>Could you send a quote for 40 chairs?<br>"
    "Delivery to Berlin, please.</p><div>Best regards,<br>Anna Client<br>ACME GmbH</div>"
    "</body></html>"
)


def _html_email(html: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Chairs"
    msg["Message-ID"] = "<ask-html@customer.test>"
    msg.set_content(html, subtype="html")
    return msg.as_bytes()


def _reply(client, user, conversation, mode="reply") -> tuple[str, dict]:
    client.force_login(user)
    url = reverse(f"web:{mode}", args=[conversation.pk])
    initial = client.get(url).context["form"].initial
    return url, {name: initial.get(name, "") for name in ("to", "subject", "body_html", "token")}


def _send(client, url: str, form: dict, answer: str) -> OutboxMessage:
    # What the editor posts: the answer typed on the first, empty line above the quote.
    html = form["body_html"].replace("<div><br></div>", f"<div>{answer}</div>", 1)
    response = client.post(url, {**form, "body_html": html})
    assert response.status_code == 302
    run_jobs()
    return OutboxMessage.objects.get()


def test_the_quote_keeps_each_line_as_a_line_break_the_editor_keeps():
    # Trix runs divs inside a blockquote together; <br> it keeps.
    assert richtext.text_to_html("On Monday, Anna wrote:\n> Hi,\n>\n> Best,\n> Anna\n>> old") == (
        "<div>On Monday, Anna wrote:</div><blockquote>Hi,<br><br>Best,<br>Anna"
        "<blockquote>old</blockquote></blockquote>"
    )


def test_a_reply_to_a_plain_text_email_keeps_its_paragraphs_and_signature_lines(
    client, sales, alice, smtp_server
):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs", body=PLAIN)
    conversation = ConversationMessage.objects.get(message=parent).conversation
    url, form = _reply(client, alice, conversation)
    # Room to write comes first, the quote below it, line by line.
    assert form["body_html"].startswith("<div><br></div>")
    assert (
        "<blockquote>Hello team,<br><br>Could you send a quote for 40 chairs?<br>Delivery to "
        "Berlin, please.<br><br>Best regards,<br>Anna Client<br>ACME GmbH<br>+49 30 1234567"
        "</blockquote>" in form["body_html"]
    )

    outbox = _send(client, url, form, "We can deliver next week.")
    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("We can deliver next week.\n")
    assert QUOTED in text
    html = mail.message.get_body(("html",)).get_content()
    assert "Best regards,<br>Anna Client<br>ACME GmbH" in html

    # The copy in the conversation is the email as sent.
    stored = outbox.stored_message
    assert stored is not None and QUOTED in stored.text_body
    hits = snippet(body_text(stored), parse_query("Berlin"))
    shown = "".join(fragment.text for fragment in hits)
    assert "> Could you send a quote for 40 chairs?\n> Delivery to Berlin, please." in shown

    admin = UserFactory(is_superuser=True, is_staff=True)
    rows = timeline_for(admin, Lead.objects.get())
    snippets = {row.entry.activity.direction: row.snippet for row in rows if row.entry.activity}
    assert snippets["in"].startswith("Hello team,\n\nCould you send a quote for 40 chairs?\n")
    assert "Best regards,\nAnna Client\nACME GmbH" in snippets["in"]
    assert snippets["out"].startswith("We can deliver next week.\n\nOn ")
    assert "wrote:\n> Hello team,\n>\n> Could you" in snippets["out"]


def test_a_reply_to_an_html_email_quotes_its_paragraphs_and_lines(
    client, sales, alice, smtp_server
):
    parent = receive(sales, raw=_html_email(HTML))
    conversation = ConversationMessage.objects.get(message=parent).conversation
    url, form = _reply(client, alice, conversation)
    assert (
        "<blockquote>Hello team,<br><br>Could you send a quote for 40 chairs?<br>Delivery to "
        "Berlin, please.<br><br>Best regards,<br>Anna Client<br>ACME GmbH</blockquote>"
        in form["body_html"]
    )
    _send(client, url, form, "Yes.")
    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert (
        "> Hello team,\n>\n> Could you send a quote for 40 chairs?\n> Delivery to Berlin, "
        "please.\n>\n> Best regards,\n> Anna Client\n> ACME GmbH\n"
    ) in text


def test_a_forward_keeps_the_lines_of_the_forwarded_email(client, sales, alice, smtp_server):
    parent = receive(sales, message_id="<fw@customer.test>", subject="Chairs", body=PLAIN)
    conversation = ConversationMessage.objects.get(message=parent).conversation
    url, form = _reply(client, alice, conversation, mode="forward")
    assert "Best regards,<br>Anna Client<br>ACME GmbH<br>+49 30 1234567" in form["body_html"]
    form["to"] = "bob@partner.test"
    _send(client, url, form, "Bob, can you help?")
    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "> Best regards,\n> Anna Client\n> ACME GmbH\n> +49 30 1234567\n" in text
    assert "> ---------- Forwarded message ----------\n> From: Anna Client" in text
