"""Issue 7 end to end: a colleague replies in the browser from the shared address; the
reply goes out once through a real SMTP server, threaded, and shows in the conversation."""

import pytest

from postroom import jobs
from postroom.mail.models import Conversation, Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_reply_goes_out_from_the_shared_address_and_joins_the_conversation(
    dovecot, mail_user, sending_mailbox, smtp_server, live_server, page, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 60}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    dovecot.deliver(
        make_email(
            sender="Anna Client <anna@customer.test>",
            to=sales.address,
            subject="Quote for 40 chairs",
            body="Could you send a quote?",
            message_id="<quote-request@customer.test>",
        ),
        to=sales.address,
    )
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()

    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.get_by_role("link", name="Reply", exact=True).click()
    assert page.input_value("input[name=to]") == "Anna Client <anna@customer.test>"
    assert page.input_value("input[name=subject]") == "Re: Quote for 40 chairs"
    # The rich text editor (vendored Trix): type above the quote.
    editor = page.locator("trix-editor")
    editor.click()
    editor.evaluate("element => element.editor.setSelectedRange(0)")
    page.keyboard.type("We can deliver 40 chairs next week for 4,000 €.")
    # Saved as a draft while typing.
    # A selector, not wait_for_function: Playwright evaluates a string predicate with
    # eval, which the page's Content-Security-Policy refuses.
    page.wait_for_selector(".draft-status:has-text('Draft saved')")

    # Sent, then taken back within the undo window: the draft comes back.
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    assert "Sending…" in page.locator("#outbox").inner_text()
    page.get_by_role("button", name="Undo").click()
    page.wait_for_url("**/reply/?draft=*")
    assert "We can deliver 40 chairs" in page.locator("trix-editor").inner_text()
    assert not OutboxMessage.objects.exists()

    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    assert "goes out in a moment" in page.locator("#outbox").inner_text()

    jobs.drain_embedded_queue()

    [mail] = smtp_server.wait_for(1)
    sent = mail.message
    assert sent["From"] == f"Alice Smith at Sales <{sales.address}>"
    assert sent["In-Reply-To"] == "<quote-request@customer.test>"
    assert sent["References"] == "<quote-request@customer.test>"
    assert sent["Subject"] == "Re: Quote for 40 chairs"
    assert sent["Message-ID"].endswith(f"@{sales.address.split('@')[1]}>")
    text = sent.get_body(("plain",)).get_content()
    assert text.startswith("We can deliver 40 chairs next week for 4,000 €.")
    assert "> Could you send a quote?" in text
    assert mail.rcpt_tos == ["anna@customer.test"]
    outbox = OutboxMessage.objects.get()
    assert (outbox.status, outbox.attempts, outbox.saved_to_sent) == ("sent", 1, True)

    page.reload()
    emails = page.locator("article.message")
    assert emails.count() == 2
    assert "Alice Smith at Sales" in emails.nth(1).locator("header").inner_text()
    reply_body = page.frame_locator("iframe.message-frame").last.locator("body")
    assert "We can deliver 40 chairs next week" in reply_body.inner_text()
    assert "goes out in a moment" not in page.locator("#outbox").inner_text()

    # The next sync of Sent brings the same email: still one message, one delivery.
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    assert Message.objects.filter(message_id=outbox.message_id).count() == 1
    conversation.refresh_from_db()
    assert conversation.message_count == 2
    assert len(smtp_server.messages) == 1
