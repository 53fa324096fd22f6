"""Issue 19, point 3, for an HTML original, in the browser: a customer's HTML email with
paragraphs and a signature of <br> lines. Its lead's timeline snippet and its search
snippet show those lines; Reply quotes them line by line with the cursor above the
quote; the email as sent and its copy in the conversation keep them too."""

from email.message import EmailMessage

import pytest

from postroom import jobs
from postroom.accounts.roles import do_give_default_roles
from postroom.crm.models import Lead
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

HTML = (
    "<html><body><p>Hello team,</p><p>Could you send a quote for 40 chairs?<br>"
    "Delivery to Berlin, please.</p><div>Best regards,<br>Anna Client<br>ACME GmbH</div>"
    "</body></html>"
)
SIGNATURE = "Best regards,\nAnna Client\nACME GmbH"


def _html_email(to: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna Client <anna@customer.test>"
    msg["To"] = to
    msg["Subject"] = "Chairs"
    msg["Message-ID"] = "<ask-html@customer.test>"
    msg.set_content(HTML, subtype="html")
    return msg.as_bytes()


def test_a_reply_to_an_html_email_keeps_its_lines_everywhere(
    dovecot, sending_mailbox, smtp_server, live_server, page, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_give_default_roles(alice)  # as every new user gets them (a flushed database too)
    sales.crm_responsible = alice  # the new leads are hers: she may read them
    sales.save()
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    dovecot.deliver(_html_email(sales.address), to=sales.address)
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    lead = Lead.objects.get()
    assert lead.responsible == alice
    conversation = Conversation.objects.get()
    page.set_default_timeout(60_000)

    # The lead's timeline and the search show the email's lines, not one run-on line.
    log_in(page, f"{live_server.url}/leads/{lead.pk}/", "alice")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    snippet = page.locator("ol.timeline .snippet").first.inner_text()
    assert "Could you send a quote for 40 chairs?\nDelivery to Berlin, please." in snippet
    assert SIGNATURE in snippet
    page.fill("header.top input[name=q]", "Berlin")
    page.keyboard.press("Enter")
    hit = page.locator("main .snippet").first
    hit.wait_for()
    assert "Delivery to Berlin, please.\n" in hit.inner_text()

    # Reply: the quote line by line, the cursor above it.
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    page.get_by_role("link", name="Reply", exact=True).click()
    editor = page.locator("trix-editor")
    editor.wait_for()
    shown = editor.inner_text()
    assert "Could you send a quote for 40 chairs?\nDelivery to Berlin, please." in shown
    assert SIGNATURE in shown
    assert editor.evaluate("element => element.editor.getSelectedRange()") == [0, 0]
    page.keyboard.type("Yes, next week.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()

    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Yes, next week.\n")
    assert (
        "> Hello team,\n>\n> Could you send a quote for 40 chairs?\n> Delivery to Berlin, "
        "please.\n>\n> Best regards,\n> Anna Client\n> ACME GmbH\n"
    ) in text
    outbox = OutboxMessage.objects.get()
    assert outbox.status == "sent"
    page.reload()
    assert page.locator("article.message").count() == 2
    reply = page.frame_locator("iframe.message-frame").last.locator("body").inner_text()
    assert SIGNATURE in reply
