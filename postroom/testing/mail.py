"""Building test emails."""

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def make_email(
    *,
    sender: str = "Anna Client <anna@customer.test>",
    to: str = "sales@acme.test",
    subject: str = "Price request",
    body: str = "Hello, what does it cost?",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    date: datetime | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date or datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain="customer.test")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def ingested(mailbox, raw: bytes):
    """`raw` stored in the mailbox's folder and run through the ingest step (parse,
    thread, index), as a sync and its ingest job do it: the Message."""
    from postroom.mail.ingest import FetchedMessage, ingest_messages, store_copies

    folder = mailbox.folders.get()
    fetched = FetchedMessage(uid=folder.copies.count() + 1, raw=raw)
    (message_id,) = store_copies(folder, 1, [fetched])
    (message,) = ingest_messages([message_id], mailbox)
    return message
