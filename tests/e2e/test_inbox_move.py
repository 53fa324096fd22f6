"""Issue 14, point 1 in Chromium: two conversations that came to Sales are ticked in the
inbox and moved to Support in one go; Support's list then holds them, and one's history
says who moved it."""

import pytest

from postroom.mail.models import Conversation, ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.tests.conftest import receive
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_bulk_move_in_the_inbox(live_server, page):
    sales = MailboxFactory(name="Sales", address="sales@acme.test", imap_host="")
    support = MailboxFactory(name="Support", address="support@acme.test", imap_host="")
    alice = UserFactory(username="alice", first_name="Alice", time_zone="Europe/Berlin")
    for mailbox in (sales, support):
        do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    subjects = ["Broken chair leg", "Wobbly table", "Order 40 chairs"]
    conversations = {}
    for n, subject in enumerate(subjects):
        message = receive(sales, subject=subject, message_id=f"<m{n}@customer.test>")
        conversations[subject] = ConversationMessage.objects.get(message=message).conversation

    log_in(page, f"{live_server.url}/", "alice")
    page.goto(f"{live_server.url}/inbox/?view=open")
    for subject in subjects[:2]:
        page.get_by_label(f"Tick {subject}").check()
    page.get_by_label("Move to").select_option(label="Support <support@acme.test>")
    page.get_by_role("button", name="Move", exact=True).click()
    page.get_by_text("2 conversations changed.").wait_for()

    moved = set(Conversation.objects.filter(mailbox=support).values_list("subject", flat=True))
    assert moved == set(subjects[:2])
    assert Conversation.objects.get(mailbox=sales).subject == "Order 40 chairs"

    # Support's list holds the two; the history of one says who moved it from where.
    page.goto(f"{live_server.url}/inbox/?view=open&mailbox={support.pk}")
    rows = page.locator("table.inbox-rows tbody tr")
    assert rows.count() == 2
    assert "Order 40 chairs" not in page.locator("table.inbox-rows").inner_text()
    page.get_by_role("link", name="Wobbly table").click()
    history = page.locator("#history")
    history.get_by_text("moved it from sales@acme.test to support@acme.test").wait_for()
    assert "Alice" in history.locator(".event-moved").inner_text()
