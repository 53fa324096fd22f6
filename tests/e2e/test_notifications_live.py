"""Issue 15, part 6, in Chromium: Bob's notification badge and list rise without a
reload when Alice assigns him a conversation (which arrived through Dovecot) and when
she mentions him in a comment; his settings page chooses what reaches him, and how."""

import pytest

from postroom import jobs
from postroom.accounts.models import NotificationPreference
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _badge(page) -> str:
    return page.locator("[data-notification-badge]").inner_text().strip()


def test_the_badge_rises_without_a_reload_when_a_colleague_assigns_or_mentions(
    dovecot, mail_user, dovecot_mailbox, live_server, page, browser
):
    sales = dovecot_mailbox
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    bob = UserFactory(username="bob", first_name="Bob", last_name="Jones")
    for user in (alice, bob):
        do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    dovecot.deliver(
        make_email(sender="anna@customer.test", to=sales.address, subject="40 chairs"),
        to=sales.address,
    )
    sync_mailbox(sales)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()

    # Bob reads his notifications; nothing yet. A marker tells a reload apart.
    bobs = browser.new_context().new_page()
    bobs.set_default_timeout(20_000)
    log_in(bobs, f"{live_server.url}/notifications/", "bob")
    bobs.wait_for_url("**/notifications/")
    assert _badge(bobs) == ""
    bobs.evaluate("window.notReloaded = true")

    # Alice assigns the conversation to Bob.
    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    page.select_option("select[data-assign]", label="Bob Jones")
    with page.expect_navigation():
        page.get_by_role("button", name="Assign").click()

    bobs.locator("[data-notification-badge] .badge", has_text="1").wait_for()
    bobs.locator("main [data-notification-list] li", has_text="made you responsible").wait_for()

    # Alice mentions Bob in a comment: the count rises again, still without a reload.
    page.locator("textarea[data-mention]").fill("@bob can you check the stock?")
    page.get_by_role("button", name="Comment").click()
    page.wait_for_url("**#comment-*")
    bobs.locator("[data-notification-badge] .badge", has_text="2").wait_for()
    bobs.locator("main [data-notification-list] li", has_text="mentioned you").wait_for()
    # The header's menu lists them too, newest first.
    bobs.locator(".notif-menu summary").click()
    latest = bobs.locator(".notif-pop li")
    latest.first.wait_for()
    assert "mentioned you" in latest.first.inner_text()
    assert "made you responsible" in latest.nth(1).inner_text()
    assert bobs.evaluate("window.notReloaded") is True

    # Bob chooses mentions by email only: the next mention leaves the badge alone.
    bobs.goto(f"{live_server.url}/notifications/settings/")
    bobs.get_by_label("Mentioned in a comment in Postroom").uncheck()
    bobs.get_by_label("Mentioned in a comment by email").check()
    bobs.get_by_role("button", name="Save").click()
    bobs.locator(".flash", has_text="saved").wait_for()
    pref = NotificationPreference.objects.get(user=bob, kind="mentioned")
    assert (pref.in_app, pref.by_email) == (False, True)
    bobs.context.close()
