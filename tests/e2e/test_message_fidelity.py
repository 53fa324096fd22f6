"""Message fidelity in a real browser: attachments download with their names, quoted
history is folded and opens on a click, an admin reprocesses a quarantined message."""

from email.message import EmailMessage

import pytest

from postroom.mail import ingest
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.models import Message
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PDF = b"%PDF-1.4 the price list"


def _reply_with_attachment() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Anna <anna@customer.test>"
    msg["To"] = "sales@acme.test"
    msg["Subject"] = "Re: Prices"
    msg.set_content(
        "Yes, agreed.\n\nOn Mon, 3 Mar 2025 at 10:00, Bob <bob@acme.test> wrote:\n"
        "> Here is the old offer.\n"
    )
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="Счёт № 42.pdf")
    return msg.as_bytes()


def _log_in(page, url: str, username: str) -> None:
    log_in(page, url, username)
    page.wait_for_url(url)


def test_a_reader_downloads_an_attachment_and_unfolds_the_quote(live_server, page, tmp_path):
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(1, _reply_with_attachment()))
    conversation = thread_message(parse_stored(copy.message), mailbox)
    do_grant_mailbox(mailbox, UserFactory(username="reader"))

    _log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "reader")
    assert page.get_by_text("Yes, agreed.").is_visible()
    quote = page.get_by_text("> Here is the old offer.")
    assert not quote.is_visible()
    page.click("text=Show quoted text")
    assert quote.is_visible()

    with page.expect_download() as download:
        page.click("text=Счёт № 42.pdf")
    assert download.value.suggested_filename == "Счёт № 42.pdf"
    saved = tmp_path / "saved.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == PDF


def test_an_admin_reprocesses_a_quarantined_message(live_server, page, monkeypatch):
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    original = ingest.parse_message
    monkeypatch.setattr(ingest, "parse_message", lambda raw: 1 / 0)
    copy = store_copy(mailbox.folders.get(), 1, FetchedMessage(1, _reply_with_attachment()))
    message = parse_stored(copy.message)
    monkeypatch.setattr(ingest, "parse_message", original)
    UserFactory(username="admin", is_superuser=True)

    _log_in(page, f"{live_server.url}/quarantine/", "admin")
    row = page.locator(f"#quarantined-{message.pk}")
    assert "ZeroDivisionError" in row.inner_text()
    row.get_by_role("button", name="Reprocess").click()
    page.get_by_text(f"Message {message.pk} is parsed now: Re: Prices").wait_for()
    assert page.get_by_text("Nothing is quarantined").is_visible()
    message.refresh_from_db()
    assert message.status == Message.Status.PARSED
    assert message.attachments.get().filename == "Счёт № 42.pdf"
