"""Issue 19, point 4, in the browser: a reply the SMTP server refuses shows as not sent,
with the server's words, Retry and Edit as draft; its author's failure notice leads to
it; Retry sends it once and the notice goes away."""

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


def test_a_failed_reply_is_retried_from_the_conversation(
    dovecot, mail_user, sending_mailbox, smtp_server, live_server, page, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    dovecot.deliver(make_email(to=sales.address, subject="Chairs"), to=sales.address)
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()

    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    page.get_by_role("link", name="Reply", exact=True).click()
    page.locator("trix-editor").wait_for()
    page.keyboard.type("It is 4,000 €.")
    smtp_server.fail_next(550, "5.7.1 message refused as spam", at="DATA")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()
    outbox = OutboxMessage.objects.get()
    assert outbox.status == "failed"

    # The notice leads to the email on its conversation.
    [notice] = Notification.objects.filter(user=alice)
    page.goto(f"{live_server.url}/notifications/")
    page.get_by_role("link", name="was not sent").click()
    page.wait_for_url(f"**{notice.url}")
    item = page.locator(f"#outbox-{outbox.pk}")
    assert "550 5.7.1 message refused as spam" in item.inner_text()
    assert item.get_by_role("button", name="Edit as draft").is_visible()

    item.get_by_role("button", name="Retry").click()
    page.wait_for_selector("text=Sending it again")
    assert not Notification.objects.filter(user=alice).exists()
    jobs.drain_embedded_queue()
    [mail] = smtp_server.wait_for(1)
    assert "It is 4,000 €." in mail.message.get_body(("plain",)).get_content()
    outbox.refresh_from_db()
    assert outbox.status == "sent"
    page.reload()
    assert page.locator(f"#outbox-{outbox.pk}").count() == 0
    assert page.locator("article.message").count() == 2
