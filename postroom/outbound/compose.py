"""Writing emails: subjects, recipients and quotes of replies, and the MIME bytes to send.

Pure functions on plain values (no ORM), so that they are tested on their own and
the same bytes come out of the web form, the API and auto-replies.
"""

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, getaddresses, make_msgid

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from postroom.mail.bounds import DISPLAY_TEXT_CHARS, cut, visible_text

from .richtext import document

# Headers and bodies are 7-bit clean (RFC 2047 words, quoted-printable or base64), so
# any SMTP server takes them without 8BITMIME or SMTPUTF8; CRLF as SMTP and IMAP want.
_BUILD_POLICY = policy.default.clone(cte_type="7bit")
_WIRE_POLICY = policy.SMTP.clone(cte_type="7bit")
# An internationalised email (RFC 6532: a UTF-8 address, or a reply to a UTF-8
# Message-ID) keeps its headers in UTF-8: an encoded word in In-Reply-To would no longer
# name the email it answers, and a UTF-8 local part has no encoded form at all. Sending
# it needs SMTPUTF8 (see smtp.send); bodies stay 7-bit.
_UTF8_BUILD_POLICY = _BUILD_POLICY.clone(utf8=True)
_UTF8_WIRE_POLICY = _WIRE_POLICY.clone(utf8=True)

# A long thread's References keep the first and the latest ids (RFC 5322 3.6.4 allows
# trimming), so the header stays a few lines however long the thread grows.
MAX_REFERENCES = 20

_REPLY_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|rv|ответ|отв)\s*(?:\[\d+\])?\s*:\s*)+", re.IGNORECASE
)
_FORWARD_PREFIX = re.compile(r"^\s*(?:fwd?|wg|tr|enc|пересл)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)


class AddressError(ValueError):
    """An address list a user typed cannot be read; the message names the culprit."""


@dataclass(frozen=True)
class Original:
    """What a reply or a forward needs to know about the message it answers."""

    message_id: str  # without angle brackets; empty when the message had none
    references: Sequence[str]
    subject: str
    from_name: str
    from_address: str
    reply_to: Sequence[str]  # formatted addresses from its Reply-To header
    to: Sequence[str]
    cc: Sequence[str]
    date: datetime | None
    text: str
    html: str = ""


@dataclass
class Draft:
    """A composed email before it is sent: what the form shows and the user edits."""

    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    body: str = ""


def reply_subject(subject: str) -> str:
    """'Re: ' once, however many reply prefixes (Re:, RE:, AW:, SV: ...) it carried."""
    rest = _REPLY_PREFIX.sub("", subject or "").strip()
    return f"Re: {rest}" if rest else "Re:"


def forward_subject(subject: str) -> str:
    subject = (subject or "").strip()
    return subject if _FORWARD_PREFIX.match(subject) else f"Fwd: {subject}"


_SPECIALS = frozenset('()<>[]:;@\\,."')


def format_address(name: str, address: str) -> str:
    """'Name <address>' (or the address alone), quoted as needed; a UTF-8 address
    (RFC 6531, "jösé@exämple.test") too, which formataddr refuses."""
    if not name:
        return address
    if address.isascii():
        return formataddr((name, address))
    if any(c in _SPECIALS for c in name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def check_address(address: str) -> None:
    """Raise ValidationError unless `address` is an email address. An internationalised
    one (RFC 6531: UTF-8 in the local part or the domain) is checked by its shape: a
    local part without spaces, quotes or brackets, and a domain that has an ASCII form."""
    if address.isascii():
        validate_email(address)
        return
    local, at, domain = address.rpartition("@")
    if not (at and local and domain) or any(
        c.isspace() or not c.isprintable() or c in '<>()[]\\,;:"@' for c in local
    ):
        raise ValidationError("not an email address")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError("not an email address") from None
    validate_email(f"x@{ascii_domain}")


def parse_addresses(value: str) -> list[str]:
    """Addresses typed into To or Cc ("Anna <anna@x.test>, bob@y.test; ...") as header
    values; raises AddressError naming the first one that is not an email address."""
    value = re.sub(r"[;\r\n]", ",", value or "")
    value = re.sub(r",(\s*,)+", ",", value).strip().strip(",")
    if not value.strip():
        return []
    found = []
    for name, address in getaddresses([value]):
        try:
            check_address(address)
        except ValidationError:
            bad = address or name or value
            raise AddressError(f"{bad!r} is not an email address") from None
        found.append(format_address(name, address))
    return found


def bare(addresses: Iterable[str]) -> list[str]:
    """The addresses alone, lower-cased, for the envelope and for matching."""
    return [a.strip().lower() for _, a in getaddresses(list(addresses)) if "@" in a]


def _without(addresses: Iterable[str], ours: set[str], seen: set[str]) -> list[str]:
    kept = []
    for formatted in addresses:
        for name, address in getaddresses([formatted]):
            key = address.strip().lower()
            if "@" not in key or key in ours or key in seen:
                continue
            seen.add(key)
            kept.append(format_address(name, address))
    return kept


def reply_recipients(
    original: Original, ours: Iterable[str], *, reply_all: bool
) -> tuple[list[str], list[str]]:
    """(To, Cc) of a reply: the sender's Reply-To, else the sender; with reply-all also
    the other recipients. Our own addresses are left out, and a reply to our own
    message goes to the people it was sent to."""
    ours = {a.lower() for a in ours}
    seen: set[str] = set()
    sender = original.from_address.lower()
    if sender in ours:
        to = _without(original.to, ours, seen)
    elif original.reply_to:
        to = _without(original.reply_to, ours, seen)
    else:
        to = _without([format_address(original.from_name, original.from_address)], ours, seen)
    if not reply_all:
        return to, []
    to += _without(original.to, ours, seen)
    return to, _without(original.cc, ours, seen)


def _shown_date(when: datetime | None) -> str:
    return when.strftime("%a, %d %b %Y at %H:%M") if when else "an earlier date"


_PARAGRAPH_END = re.compile(r"</p\s*>", re.IGNORECASE)


def html_as_text(markup: str) -> str:
    """An HTML email's text as its reader sees it: lines where it breaks lines, and a
    blank line between paragraphs (<p>), which a browser sets apart with a margin.

    Outlook writes every line as a <p class=MsoNormal> whose margin its own style sets
    to 0, and blank lines as paragraphs of their own: there a paragraph is a line."""
    if "msonormal" not in markup[:100_000].lower():
        markup = _PARAGRAPH_END.sub("</p><br>", markup)
    return visible_text(markup)


def original_text(original: Original) -> str:
    """The original's text (its HTML's text when it has no plain part), at most as much
    as the conversation page shows: a quote of a 30 MB email is not a reply."""
    text = original.text if original.text.strip() else html_as_text(original.html)
    return cut(text, DISPLAY_TEXT_CHARS)[0]


def quote(original: Original, when: datetime | None = None) -> str:
    """The reply's quote of the original: an attribution line, then '> ' lines."""
    who = original.from_name or original.from_address
    lines = original_text(original).replace("\r\n", "\n").rstrip().split("\n")
    quoted = "\n".join(f"> {line}" if line else ">" for line in lines)
    return f"\n\nOn {_shown_date(when or original.date)}, {who} wrote:\n{quoted}\n"


def forwarded(original: Original, when: datetime | None = None) -> str:
    """The forwarded message under a header block, as mail clients write it."""
    head = [
        "---------- Forwarded message ----------",
        f"From: {format_address(original.from_name, original.from_address)}",
        f"Date: {_shown_date(when or original.date)}",
        f"Subject: {original.subject}",
    ]
    if original.to:
        head.append(f"To: {', '.join(original.to)}")
    if original.cc:
        head.append(f"Cc: {', '.join(original.cc)}")
    return "\n\n" + "\n".join(head) + "\n\n" + original_text(original).rstrip() + "\n"


def references_for(original: Original) -> list[str]:
    """References of a reply: the original's references, then the original itself."""
    chain = [r for r in original.references if r]
    if original.message_id:
        chain.append(original.message_id)
    chain = list(dict.fromkeys(chain))
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1) :]
    return chain


def text_to_html(text: str) -> str:
    """The plain text as a minimal HTML document: escaped, line breaks kept."""
    lines = [html.escape(line).replace("  ", "&nbsp; ") for line in text.split("\n")]
    body = "<br>\n".join(lines)
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body><div style="font-family: sans-serif">{body}</div></body></html>\n'
    )


def new_message_id(from_address: str) -> str:
    """A Message-ID in the sending address's domain, without angle brackets."""
    domain = from_address.rpartition("@")[2] or "localhost"
    if not domain.isascii():
        # The A-label of an internationalised domain: our own ids stay ASCII, so that
        # every server and IMAP SEARCH (the Sent check) can carry them.
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            domain = "localhost"
    return make_msgid(domain=domain).strip("<>")


def _address_header(addresses: Sequence[str]) -> list[Address] | str:
    pairs = getaddresses(list(addresses))
    if all(address.isascii() for _name, address in pairs):
        return [Address(display_name=name, addr_spec=address) for name, address in pairs]
    # Address refuses a UTF-8 local part; the header takes the text as it is (RFC 6532).
    return ", ".join(format_address(name, address) for name, address in pairs)


def build_email(
    *,
    from_name: str,
    from_address: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
    in_reply_to: str = "",
    references: Sequence[str] = (),
    html_body: str = "",
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The email's bytes: a text/plain part and a text/html alternative, then the files.

    `html_body` is the sender's cleaned HTML fragment (richtext.clean_html); without it
    the HTML part is the text, escaped. `attachments` are (filename, content type, bytes);
    `headers` are extra (name, value) pairs, e.g. an auto-reply's Auto-Submitted.
    """
    international = not all(
        value.isascii() for value in (from_address, message_id, in_reply_to, *to, *cc, *references)
    )
    msg = EmailMessage(policy=_UTF8_BUILD_POLICY if international else _BUILD_POLICY)
    msg["From"] = _address_header([format_address(from_name, from_address)])
    if to:
        msg["To"] = _address_header(to)
    if cc:
        msg["Cc"] = _address_header(cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{r}>" for r in references)
    for name, value in headers:
        msg[name] = value
    text = body.replace("\r\n", "\n").replace("\r", "\n")
    msg.set_content(text)
    msg.add_alternative(document(html_body) if html_body else text_to_html(text), subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = (content_type or "").partition("/")
        if not maintype or not subtype or maintype in ("multipart", "message"):
            # Unknown, or a type the email package would try to treat as a structure.
            maintype, subtype = "application", "octet-stream"
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=_UTF8_WIRE_POLICY if international else _WIRE_POLICY)
