"""Tracking tests send through the Outbox to a real SMTP sink (aiosmtpd) and load the
image and links of what arrived through the test client, as a recipient's client would."""

import re

import pytest
from django.core.cache import cache

from postroom.outbound.actions import Composition, do_send_email
from postroom.outbound.tests.conftest import receive, run_jobs

THUNDERBIRD = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.5.0"
# A desktop mail client's engine, as the browser tests' recipient: headless Chromium's
# own agent reads as a scanner (a prefetch).
READER = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GMAIL_PROXY = (
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
)

OFFER_HTML = (
    '<p>Our <a href="https://shop.test/offer?id=7&amp;lang=en">offer</a>, '
    '<a href="mailto:sales@acme.test">write</a>, <a href="tel:+4930123">call</a>, '
    '<a href="#terms">terms</a>, <a href="https://shop.test/about">about us</a>.</p>'
)


@pytest.fixture(autouse=True)
def no_undo_window(settings):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    cache.clear()  # the per-IP counters


def send_offer(sales, alice, *, to=("anna@customer.test",), cc=(), **options):
    """A new email with links to the customer, delivered; returns its Outbox row."""
    outbox = do_send_email(
        sales,
        Composition(to=list(to), cc=list(cc), subject="Our offer", html=OFFER_HTML),
        acting_user=alice,
        **options,
    )
    run_jobs()
    outbox.refresh_from_db()
    return outbox


def reply_to_customer(sales, alice):
    """A customer's email and alice's reply with links, delivered; (reply, conversation)."""
    from postroom.mail.models import ConversationMessage
    from postroom.outbound.models import OutboxMessage

    parent = receive(sales, message_id="<ask@customer.test>", subject="Quote for 40 chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    outbox = do_send_email(
        sales,
        Composition(to=["anna@customer.test"], subject="Re: Quote", html=OFFER_HTML),
        acting_user=alice,
        kind=OutboxMessage.Kind.REPLY,
        parent=parent,
        conversation=conversation,
    )
    run_jobs()
    outbox.refresh_from_db()
    return outbox, conversation


def html_of(mail) -> str:
    return mail.message.get_body(("html",)).get_content()


def open_and_follow_the_offer(browser, mail) -> tuple[list, str]:
    """The recipient's mail client shows the email (its image loads) and she follows
    its offer link, answered here: the shop is not on the network. Returns the cookies
    the client got and the heading of the page she landed on."""
    context = browser.new_context(user_agent=READER)
    reader = context.new_page()
    reader.route(
        "https://shop.test/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Offer</h1>"),
    )
    with reader.expect_response(lambda r: "/t/o/" in r.url) as loaded:
        reader.set_content(html_of(mail))
    assert loaded.value.status == 200
    cookies = context.cookies()
    reader.get_by_role("link", name="offer").click()
    reader.wait_for_url("https://shop.test/offer?id=7&lang=en")
    heading = reader.locator("h1").inner_text()
    context.close()
    return cookies, heading


def text_of(mail) -> str:
    return mail.message.get_body(("plain",)).get_content()


def image_path(html: str) -> str:
    return re.search(r'<img src="https?://[^/"]+(/t/o/[^"]+\.gif)"', html).group(1)


def link_paths(html: str) -> list[str]:
    return re.findall(r'href="https?://[^/"]+(/t/c/[^"]+)"', html)


def copy_for(smtp_server, recipient: str):
    return next(m for m in smtp_server.messages if recipient in m.rcpt_tos)
