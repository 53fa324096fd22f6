"""Issue 19, point 3, in the browser: a colleague replies to a multi-paragraph email. The
editor opens with the cursor above the quote, the quote keeps the original's paragraphs
and signature lines, and so do the email at the SMTP sink and its copy in the
conversation."""

import pytest

from postroom import jobs
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ORIGINAL = (
    "Hello team,\n\nCould you send a quote for 40 chairs?\nDelivery to Berlin, please.\n\n"
    "Best regards,\nAnna Client\nACME GmbH\n+49 30 1234567\n"
)
QUOTED = (
    "> Hello team,\n>\n> Could you send a quote for 40 chairs?\n> Delivery to Berlin, please.\n"
    ">\n> Best regards,\n> Anna Client\n> ACME GmbH\n> +49 30 1234567\n"
)


def test_a_reply_keeps_the_lines_of_the_email_it_quotes(
    dovecot, mail_user, sending_mailbox, smtp_server, live_server, page, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    dovecot.deliver(make_email(to=sales.address, subject="Chairs", body=ORIGINAL), to=sales.address)
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()

    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.get_by_role("link", name="Reply", exact=True).click()
    editor = page.locator("trix-editor")
    editor.wait_for()
    # The quote as the editor shows it: line by line, not run together.
    shown = editor.inner_text()
    assert "Best regards,\nAnna Client\nACME GmbH\n+49 30 1234567" in shown
    assert "Could you send a quote for 40 chairs?\nDelivery to Berlin, please." in shown
    # The cursor waits above the quote: typing at once writes the answer there.
    assert editor.evaluate("element => element.editor.getSelectedRange()") == [0, 0]
    page.keyboard.type("We can deliver next week.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()

    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("We can deliver next week.\n")
    assert QUOTED in text
    assert (
        "Best regards,<br>Anna Client<br>ACME GmbH"
        in mail.message.get_body(("html",)).get_content()
    )

    # Its copy in the conversation shows the same lines.
    outbox = OutboxMessage.objects.get()
    assert outbox.status == "sent" and QUOTED in outbox.stored_message.text_body
    page.reload()
    assert page.locator("article.message").count() == 2
    reply = page.frame_locator("iframe.message-frame").last.locator("body").inner_text()
    assert "Best regards,\nAnna Client\nACME GmbH" in reply
