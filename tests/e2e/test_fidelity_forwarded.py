"""A forwarded email on the conversation page in Chromium (issue 20, point 6): shown inline
under the forwarding note (its HTML in a sandboxed frame), folded and unfolded with a
click, and downloaded as the bytes it came as."""

import pytest

from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Folded as its writer folded it, with runs of spaces: kept exactly in the download.
TEXT_INNER = (
    b"From: =?utf-8?q?J=C3=BCrgen_M=C3=BCller?= <juergen@kunde.test>\r\n"
    b"To:   anna@acme.test\r\n"
    b"Subject: Offer for the pallets\r\n\t folded oddly\r\n"
    b"Date: Mon, 7 Dec 2026 10:00:00 +0100\r\n"
    b"Message-ID: <inner.1@kunde.test>\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
    b"Pallets at 12 EUR each, Gr\xc3\xb6\xc3\x9fe L.\r\n"
)
HTML_INNER = (
    b"From: Shop <news@shop.test>\r\nTo: anna@acme.test\r\nSubject: Sale\r\n"
    b"Message-ID: <inner.2@shop.test>\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    b"<p>Chairs <b>half price</b></p><script>document.title='ran'</script>\r\n"
)
FORWARDING = (
    b"From: Anna <anna@acme.test>\r\nTo: sales@acme.test\r\nSubject: Fwd: two offers\r\n"
    b"Message-ID: <fwd.1@acme.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="outer"\r\n\r\n'
    b"--outer\r\nContent-Type: text/plain\r\n\r\nSee the two offers below.\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + TEXT_INNER + b"\r\n"
    b"--outer\r\nContent-Type: message/rfc822\r\n\r\n" + HTML_INNER + b"\r\n"
    b"--outer--\r\n"
)


def test_a_reader_sees_forwarded_emails_inline_folds_them_and_downloads_one(
    live_server, page, tmp_path
):
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(1, FORWARDING))
    conversation = thread_message(parse_stored(copy.message), mailbox)
    do_grant_mailbox(mailbox, UserFactory(username="reader", time_zone="Europe/Berlin"))

    url = f"{live_server.url}/conversations/{conversation.pk}/"
    log_in(page, url, "reader")
    page.wait_for_url(url)
    assert page.get_by_text("See the two offers below.").is_visible()
    # The forwarded text is shown once: in its block, not copied under the note.
    pallets = page.get_by_text("Pallets at 12 EUR each, Größe L.")
    assert pallets.count() == 1 and pallets.is_visible()
    block = page.locator("details.forwarded").first
    assert "Jürgen Müller <juergen@kunde.test>" in block.inner_text()

    # The forwarded HTML email: sanitised in a sandboxed frame, its script never ran.
    frame = page.frame_locator("iframe.forwarded-frame")
    frame.get_by_text("half price").wait_for()
    assert "<script" not in frame.locator("html").inner_html()
    assert page.title() != "ran"

    # Folds away and opens again with a click on its summary.
    block.locator("summary").click()
    assert not pallets.is_visible()
    block.locator("summary").click()
    assert pallets.is_visible()

    with page.expect_download() as download:
        block.get_by_text("Download this email (.eml)").click()
    saved = tmp_path / "forwarded.eml"
    download.value.save_as(saved)
    assert saved.read_bytes() == TEXT_INNER
    assert download.value.suggested_filename.endswith(".eml")
