"""Issue 16, point 1 in Chromium: a sender who asked to be told when a customer first
opens an email of hers sees the notification rise in her browser on the first real
open, not on an image proxy's prefetch on delivery, and once: later opens and a click
tell her nothing more."""

import pytest

from postroom.accounts.models import Notification, NotificationPreference
from postroom.testing.web import log_in
from postroom.tracking.models import TrackingEvent
from postroom.tracking.tests.conftest import (
    GMAIL_PROXY,
    READER,
    THUNDERBIRD,
    html_of,
    reply_to_customer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ASKED = "A customer first opened an email you sent in Postroom"


def _badge(page) -> str:
    return page.locator("[data-notification-badge]").inner_text().strip()


def _show(browser, html: str, user_agent: str) -> None:
    """The email's HTML shown by a mail client (or fetched by a proxy) of this agent."""
    context = browser.new_context(user_agent=user_agent)
    client = context.new_page()
    with client.expect_response(lambda r: "/t/o/" in r.url) as loaded:
        client.set_content(html)
    assert loaded.value.status == 200
    context.close()


def test_the_sender_is_told_in_the_browser_of_the_first_real_open_once(
    sales, alice, smtp_server, live_server, browser, page, settings
):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "UNDO_SEND_SECONDS": 0,
        "TRACKING_URL": live_server.url,
    }
    # Alice asks for it on her notification settings.
    page.set_default_timeout(20_000)
    log_in(page, f"{live_server.url}/notifications/settings/", "alice")
    page.wait_for_url("**/notifications/settings/")
    page.get_by_label(ASKED).check()
    page.get_by_role("button", name="Save").click()
    page.locator(".flash", has_text="saved").wait_for()
    assert NotificationPreference.objects.get(user=alice, kind="email_opened").in_app

    _, conversation = reply_to_customer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    html = html_of(mail)
    page.goto(f"{live_server.url}/notifications/")
    assert _badge(page) == ""

    # Gmail's image proxy fetches the image on delivery: recorded, nobody read it.
    _show(browser, html, GMAIL_PROXY)
    assert TrackingEvent.objects.get().is_prefetch
    page.reload()
    assert _badge(page) == ""
    assert not Notification.objects.filter(user=alice).exists()

    # The customer opens it: the badge rises without a reload, the list says who.
    page.evaluate("window.notReloaded = true")
    _show(browser, html, READER)
    page.locator("[data-notification-badge] .badge", has_text="1").wait_for()
    item = page.locator("main [data-notification-list] li", has_text="anna@customer.test read")
    item.wait_for()
    assert "“Re: Quote”" in item.inner_text()
    assert page.evaluate("window.notReloaded") is True

    # She opens it again on another device and clicks a link: counted, not told again.
    _show(browser, html, THUNDERBIRD)
    context = browser.new_context(user_agent=READER)
    customer = context.new_page()
    customer.route("https://shop.test/**", lambda route: route.fulfill(status=200, body="ok"))
    customer.set_content(html)
    customer.get_by_role("link", name="offer").click()
    customer.wait_for_url("https://shop.test/offer?id=7&lang=en")
    context.close()
    real = TrackingEvent.objects.filter(is_prefetch=False)
    assert sorted(real.values_list("kind", flat=True)) == ["click", "open", "open"]
    assert Notification.objects.filter(user=alice, kind="email_opened").count() == 1
    page.reload()
    assert _badge(page) == "1"

    # The notification leads to the conversation, which shows the opens.
    item.get_by_role("link").first.click()
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    mark = page.locator(".read-mark").first.inner_text()
    assert "2 opens" in mark and "1 click" in mark
