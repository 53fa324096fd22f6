"""Forwarded emails (message/rfc822 parts) as the conversation page shows them: their
headers and body under the forwarding email, collapsible, read from the part's stored
bytes (kept exactly as they came: see parse._original_bytes).

The parser also appends each forwarded email's text to the forwarding email's text (for
search, snippets and replies); where the page shows the forwarded emails in blocks of
their own, `without_forwarded_text` takes that copy off the text shown above them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from . import attachments
from .bounds import DISPLAY_TEXT_CHARS, cut, html_too_complex, visible_text
from .models import Attachment
from .parse import FORWARD_MARK, ParseError, forwarded_head, parse_message
from .sanitize import sanitize_html, text_to_html

logger = logging.getLogger(__name__)

EMAIL_TYPES = ("message/rfc822", "message/global")


@dataclass(frozen=True)
class ForwardedEmail:
    """One forwarded email, ready to show: sanitised HTML or escaped, linked text."""

    attachment: Attachment  # its stored part, downloadable as .eml
    subject: str = ""
    sender: str = ""
    to: str = ""
    date: datetime | None = None
    html: str = ""  # sanitised (postroom.mail.sanitize), for a sandboxed frame
    text_html: str = ""  # escaped and linked text (for an email without usable HTML)
    error: str = ""  # why it cannot be shown; it can still be downloaded
    # The mark and header lines opening the copy of its text in the forwarding email's.
    head: str = ""


def forwarded_emails(parts: Iterable[Attachment]) -> list[ForwardedEmail]:
    """The forwarded emails among a message's attachment rows, in their order."""
    return [_read(part) for part in parts if part.content_type in EMAIL_TYPES]


def _read(part: Attachment) -> ForwardedEmail:
    try:
        data = attachments.read(part)
        parsed = parse_message(data)
    except ParseError as exc:
        return ForwardedEmail(part, error=f"it cannot be read ({exc})")
    except Exception:  # a parser bug, or a missing blob: the page still shows the rest
        logger.exception("reading forwarded email %s of message %s", part.pk, part.message_id)
        return ForwardedEmail(part, error="it cannot be read")
    sender = parsed.from_address
    if parsed.from_name:
        sender = f"{parsed.from_name} <{parsed.from_address}>" if sender else parsed.from_name
    html = ""
    if parsed.html and not html_too_complex(parsed.html):
        html = sanitize_html(parsed.html[: DISPLAY_TEXT_CHARS * 4], allow_remote_images=False).html
    text = parsed.text or (visible_text(parsed.html) if not html else "")
    return ForwardedEmail(
        part,
        subject=parsed.subject,
        sender=sender,
        to=", ".join(parsed.to),
        date=parsed.date,
        html=html,
        text_html="" if html else text_to_html(cut(text, DISPLAY_TEXT_CHARS)[0]),
        head=forwarded_head(data),
    )


def without_forwarded_text(text: str, emails: list[ForwardedEmail]) -> str:
    """`text` without the copies of its forwarded emails that the parser appended at its
    end, in their order (a forwarded email's own forwarded emails are inside its copy).

    The copy is found by the first email's head (the mark and its header lines), so a
    sender's own forwarding note written with the same mark (Postroom's inline forward
    writes it too) stays; where the head is not found (its header lines read with
    another charset hint), from the first mark on.
    """
    if not emails:
        return text
    for head in (emails[0].head, FORWARD_MARK):
        if not head:
            continue
        if text.startswith(f"{head}\n"):
            return ""
        found = text.find(f"\n{head}\n")
        if found >= 0:
            return text[:found].rstrip() + "\n"
    return text
