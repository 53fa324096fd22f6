"""Issue 14 end to end, in Chromium, through Dovecot and a real SMTP server: the inbox is
home; a conversation is assigned, taken, commented on with an @mention, replied to
(a colleague sees "Alice Smith is replying" live), closed with the "e" key, reopened by
the customer's next email, snoozed, and woken by its job."""

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom import jobs
from postroom.accounts.models import Notification
from postroom.mail.models import Comment, Conversation, ConversationEvent
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

Status = Conversation.Status


def _arrive(dovecot, sales, **email) -> None:
    dovecot.deliver(make_email(to=sales.address, **email), to=sales.address)
    sync_mailbox(sales)
    jobs.drain_embedded_queue()


def test_the_shared_inbox_workflow(
    dovecot, mail_user, sending_mailbox, smtp_server, live_server, page, browser, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    sales = sending_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Jones")
    for user in (alice, bob):
        do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    _arrive(
        dovecot,
        sales,
        sender="Anna Client <anna@customer.test>",
        subject="Quote for 40 chairs",
        body="Could you send a quote?",
        message_id="<quote-request@customer.test>",
    )
    conversation = Conversation.objects.get()

    # The inbox is home after login; the new email waits, unassigned.
    log_in(page, f"{live_server.url}/", "alice")
    page.wait_for_url("**/inbox/")
    unassigned = page.locator("a[data-view=unassigned]")
    assert "1" in unassigned.locator(".count").inner_text()
    unassigned.click()
    row = page.locator("tr[data-row]")
    assert "Quote for 40 chairs" in row.inner_text()
    assert "Could you send a quote?" in row.inner_text()

    # Bulk-assign it to Bob.
    row.locator("input[type=checkbox]").check()
    page.select_option("#bulk select[name=responsible]", label="Bob Jones")
    with page.expect_navigation():
        page.click("#bulk button[value=assign]")
    conversation.refresh_from_db()
    assert conversation.responsible == bob
    assert Notification.objects.filter(user=bob).exists()

    # Open it ("o" on the current row) and take it.
    page.goto(f"{live_server.url}/inbox/?view=open")
    page.keyboard.press("o")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Take it").click()
    assert page.locator(".workflow-bar .responsible").inner_text() == "Alice Smith"

    # An internal comment mentioning Bob, picked from the autocomplete.
    comment = page.locator("textarea[data-mention]")
    comment.click()
    page.keyboard.type("Can you check the stock, @bo")
    page.locator(".mention-list li[data-username=bob]").wait_for()
    page.keyboard.press("Enter")
    page.keyboard.type("?")
    assert comment.input_value() == "Can you check the stock, @bob ?"
    page.get_by_role("button", name="Comment").click()
    page.wait_for_url("**#comment-*")
    assert "Can you check the stock" in page.locator("li.comment").inner_text()
    assert list(Comment.objects.get().mentions.all()) == [bob]
    assert Notification.objects.filter(user=bob, text__contains="mentioned you").exists()

    # Bob has the conversation open while Alice writes her reply: he sees it live.
    bobs = browser.new_context().new_page()
    bobs.set_default_timeout(15_000)
    log_in(bobs, f"{live_server.url}/conversations/{conversation.pk}/", "bob")
    bobs.wait_for_url(f"**/conversations/{conversation.pk}/")
    assert "replying" not in bobs.locator("[data-presence]").inner_text()

    page.keyboard.press("r")
    page.wait_for_url("**/reply/")
    bobs.locator(".replying", has_text="Alice Smith is replying").wait_for()

    editor = page.locator("trix-editor")
    editor.click()
    editor.evaluate("element => element.editor.setSelectedRange(0)")
    page.keyboard.type("We can deliver 40 chairs next week.")
    page.get_by_role("button", name="Send").click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    jobs.drain_embedded_queue()
    [sent] = smtp_server.wait_for(1)
    assert sent.message["In-Reply-To"] == "<quote-request@customer.test>"
    conversation.refresh_from_db()
    assert conversation.status == Status.PENDING  # waiting on the customer now
    page.reload()
    assert sales.address in page.locator("table.replies").inner_text()
    # Sending ends Alice's presence: Bob's line goes away, again without a reload.
    bobs.locator(".replying").wait_for(state="detached")
    bobs.context.close()

    # "e" closes it.
    with page.expect_navigation():
        page.keyboard.press("e")
    conversation.refresh_from_db()
    assert conversation.status == Status.CLOSED

    # The customer writes again, delivered through Dovecot: it is open again.
    _arrive(
        dovecot,
        sales,
        sender="Anna Client <anna@customer.test>",
        subject="Re: Quote for 40 chairs",
        body="And 10 tables?",
        in_reply_to=sent.message["Message-ID"],
    )
    conversation.refresh_from_db()
    assert conversation.status == Status.OPEN
    page.reload()
    assert "Open" in page.locator(".workflow-bar .status").inner_text()
    assert "Postroom reopened it" in page.locator("ol.history").inner_text()

    # Snoozed for an hour, it leaves Mine for Snoozed...
    page.select_option("form.snooze select[name=snooze]", "1h")
    with page.expect_navigation():
        page.locator("form.snooze button").click()
    page.goto(f"{live_server.url}/inbox/?view=mine")
    assert page.locator("tr[data-row]").count() == 0
    page.goto(f"{live_server.url}/inbox/?view=snoozed")
    assert "Quote for 40 chairs" in page.locator("tr[data-row]").inner_text()

    # ... and its job wakes it when its time comes (moved to now: no waiting in a test).
    job = DBTaskResult.objects.get(task_path="postroom.mail.jobs.wake_snoozed")
    Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=timezone.now())
    DBTaskResult.objects.filter(pk=job.pk).update(run_after=timezone.now())
    jobs.drain_embedded_queue()
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None
    assert conversation.events.filter(kind=ConversationEvent.Kind.WOKE).exists()
    page.goto(f"{live_server.url}/inbox/?view=mine")
    assert "Quote for 40 chairs" in page.locator("tr[data-row]").inner_text()
