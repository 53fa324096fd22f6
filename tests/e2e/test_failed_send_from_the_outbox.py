"""Issue 19, point 4, on the Outbox page: a reply the SMTP server refused shows there as
failed, in the server's words, with Retry for the mailbox's manager too; its author
takes it back with Edit as draft, corrects it and sends it, and the failure notice is
gone."""

import pytest

from postroom import jobs
from postroom.accounts.models import Notification
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_failed_reply_is_edited_as_a_draft_from_the_outbox(
    dovecot, sending_mailbox, smtp_server, live_server, page, browser, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    mia = UserFactory(username="mia", first_name="Mia", last_name="Manager")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    do_grant_mailbox(sales, mia, MailboxGrant.Level.MANAGE)
    dovecot.deliver(make_email(to=sales.address, subject="Chairs"), to=sales.address)
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()
    outbox_url = f"{live_server.url}/mailboxes/{sales.pk}/outbox/"
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    page.get_by_role("link", name="Reply", exact=True).click()
    page.locator("trix-editor").wait_for()
    page.keyboard.type("It is 4,000 EUR.")
    smtp_server.fail_next(550, "5.1.1 mailbox unavailable", at="RCPT")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()
    failed = OutboxMessage.objects.get()
    assert failed.status == "failed"
    assert Notification.objects.filter(user=alice).count() == 1

    # The mailbox's manager sees it on the Outbox page, and may retry it.
    manager = browser.new_context().new_page()
    manager.set_default_timeout(60_000)
    log_in(manager, outbox_url, "mia")
    manager.wait_for_load_state("networkidle")
    row = manager.locator(f"#outbox-{failed.pk}")
    assert "550 5.1.1 mailbox unavailable" in row.inner_text()
    assert row.get_by_role("button", name="Retry").is_visible()

    # Its author takes it back as a draft there, corrects it and sends it.
    page.goto(outbox_url)
    page.locator(f"#outbox-{failed.pk}").get_by_role("button", name="Edit as draft").click()
    page.wait_for_selector("text=Not sent: the email is a draft again")
    editor = page.locator("trix-editor")
    assert "It is 4,000 EUR." in editor.inner_text()
    editor.click()
    page.keyboard.press("Control+Home")
    page.keyboard.type("Sorry, a typo before. ")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()

    [mail] = smtp_server.wait_for(1)
    text = mail.message.get_body(("plain",)).get_content()
    assert text.startswith("Sorry, a typo before. It is 4,000 EUR.")
    assert not Notification.objects.filter(user=alice).exists(), "the notice is withdrawn"
    page.goto(outbox_url)
    assert "Sent" in page.inner_text("table.outbox")
