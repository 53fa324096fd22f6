"""Hostile HTML mail in a real browser: nothing runs, nothing leaves until images are allowed."""

import re
import struct
import zlib
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TRACKER = "tracker.invalid"  # .invalid never resolves; every request to it is aborted anyway

# Ids do not survive sanitising, so the test finds elements by text and alt.
# Each payload tries to run script (marking window.top / its own window, renaming the
# page, opening a dialog) or to reach the tracker host without the reader's consent.
HOSTILE_HTML = f"""
<html><head>
<title>pwned</title>
<meta http-equiv="refresh" content="0;url=http://{TRACKER}/refresh">
<base href="http://{TRACKER}/">
<link rel="stylesheet" href="http://{TRACKER}/link.css">
<style>@import url(http://{TRACKER}/import.css);
body {{ background: url(http://{TRACKER}/bg.png) }}</style>
<script>window.pwned = 1; window.top.pwned = 1; top.document.title = "pwned"; alert(1)</script>
</head>
<body onload="window.top.pwned = 2; alert(2)">
<p>Hello from a hostile sender</p>
<img src="x" onerror="window.top.pwned = 3; alert(3)">
<svg onload="window.top.pwned = 4; alert(4)"><circle r="1"/></svg>
<iframe src="javascript:parent.top.pwned = 5"></iframe>
<iframe srcdoc="<script>parent.top.pwned = 6</script>"></iframe>
<object data="http://{TRACKER}/object.swf"></object><embed src="http://{TRACKER}/embed.swf">
<form action="http://{TRACKER}/form"><input name="q" autofocus onfocus="window.top.pwned = 7">
<button>Go</button></form>
<a href="javascript:window.top.pwned = 8; alert(8)">a javascript link</a>
<a href="https://{TRACKER}/offer">our offer</a>
<p style="background-image: url(http://{TRACKER}/style.png)">styled</p>
<table background="http://{TRACKER}/table.png"><tr><td>cell</td></tr></table>
<img srcset="http://{TRACKER}/srcset.png 1x">
<img src="http://{TRACKER}/pixel.png" alt="tracking pixel">
<img src="cid:logo@customer.test" alt="logo">
</body></html>
"""


def _png() -> bytes:
    """A valid 1x1 PNG, so the browser really decodes the inline image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _hostile_email() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Mallory <mallory@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "A harmless offer"
    msg["Message-ID"] = "<hostile-1@customer.test>"
    msg.set_content("Hello from a hostile sender")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    msg.get_payload()[1].add_related(
        _png(), maintype="image", subtype="png", cid="<logo@customer.test>"
    )
    return msg.as_bytes()


@pytest.fixture
def conversation():
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(uid=1, raw=_hostile_email()))
    message = parse_stored(copy.message)
    do_grant_mailbox(mailbox, UserFactory(username="reader"))
    return thread_message(message, mailbox)


@pytest.fixture
def watched(page, live_server):
    """The page, with every request recorded and any request off the live server aborted."""
    own = urlsplit(live_server.url).netloc
    remote: list[str] = []
    own_paths: list[str] = []
    dialogs: list[str] = []

    def route(route):
        url = urlsplit(route.request.url)
        if url.netloc == own:
            own_paths.append(url.path)
            route.continue_()
        else:
            remote.append(route.request.url)
            route.abort()

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.route("**/*", route)
    page.on("dialog", on_dialog)
    page.on("popup", lambda popup: remote.append(f"popup: {popup.url}"))
    return page, remote, own_paths, dialogs


def _body_frame(page):
    """The message body's frame once it and everything it asked for has loaded."""
    frame = page.locator("iframe.message-frame").element_handle().content_frame()
    frame.wait_for_load_state("load")
    page.wait_for_load_state("networkidle")
    return frame


def _assert_nothing_ran(page, frame, dialogs):
    assert dialogs == []
    assert page.evaluate("window.pwned") is None
    assert page.title() == "A harmless offer · Postroom"
    assert frame.evaluate("window.pwned") is None


def test_hostile_html_neither_runs_nor_calls_home_until_images_are_allowed(
    live_server, conversation, watched
):
    page, remote, own_paths, dialogs = watched

    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "reader")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")

    frame = _body_frame(page)
    _assert_nothing_ran(page, frame, dialogs)
    assert remote == [], f"requests left for remote hosts: {remote}"

    # Do what a reader does: click the script link; the body is there, the form is not.
    frame.get_by_text("a javascript link").click()
    page.wait_for_load_state("networkidle")
    _assert_nothing_ran(page, frame, dialogs)
    assert frame.get_by_text("Hello from a hostile sender").is_visible()
    assert frame.locator("button, form, input").count() == 0, "the form must not survive"
    assert page.locator(".images-switch .blocked").inner_text() == "1 remote image blocked."
    # The inline image came from Postroom, inside the sandbox, with the reader's session.
    assert any(re.search(r"^/messages/\d+/inline/1/", path) for path in own_paths)
    assert frame.locator("img[alt=logo]").evaluate("img => img.naturalWidth") == 1
    offer = frame.get_by_text("our offer")
    assert (offer.get_attribute("target"), offer.get_attribute("rel")) == (
        "_blank",
        "noopener noreferrer",
    )

    page.click("text=Show images")
    page.wait_for_url("**?images=*")
    frame = _body_frame(page)
    # Exactly the one image the reader allowed was attempted (and aborted by the route);
    # the CSS, base, object, srcset and background fetches are gone for good.
    assert remote == [f"http://{TRACKER}/pixel.png"]
    _assert_nothing_ran(page, frame, dialogs)


def test_always_showing_images_from_a_sender_uses_the_real_form(live_server, conversation, watched):
    page, remote, _, dialogs = watched
    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "reader")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    _body_frame(page)
    assert remote == []

    page.click("text=Always show images from mallory@customer.test")
    page.get_by_text("Images from mallory@customer.test are always shown.").wait_for()
    assert "?images" not in page.url  # the sender's setting, not the one-off switch
    frame = _body_frame(page)
    assert remote == [f"http://{TRACKER}/pixel.png"]
    _assert_nothing_ran(page, frame, dialogs)
