"""Pure functions that turn raw RFC 5322 bytes into what Postroom stores.

No ORM here: these run on corpora in tests and benchmarks without a database.

The MIME structure is read by the standard library's email package (policy.default):
multipart trees, transfer encodings (quoted-printable, base64, uuencode), RFC 2231
parameters (continued and encoded attachment names) and the choice of body parts. Text
is decoded here, not by the library, because the library trusts declared charsets:
`charsets.decode` reads what the bytes really are (see there). Headers are read from
their raw values for the same reason and for speed: RFC 2047 encoded words are decoded
by `decode_words`, raw 8-bit header bytes (RFC 6532 UTF-8, or some legacy charset) by
`charsets`, and only the headers Postroom uses are looked at.

What mail clients do and the library does not is done here too: the text, HTML and
image parts of a multipart/mixed are joined in their order, a delivery report's
machine-readable parts are shown as a "Delivery report" block, uuencoded files in a text
body become attachments, and base64 cut short is decoded as far as it goes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html as html_escape
import mimetypes
import quopri
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email import policy
from email.errors import InvalidBase64LengthDefect, MissingHeaderBodySeparatorDefect
from email.generator import BytesGenerator
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses, parsedate_to_datetime
from io import BytesIO
from urllib.parse import unquote

from . import charsets
from .bounds import STORED_BODY_CHARS, visible_text
from .classify import Classification, Kind, classify


class ParseError(Exception):
    """The bytes are not an email we can read; the message is quarantined."""


@dataclass(frozen=True)
class Envelope:
    """What is known from the headers alone, cheaply, before the full parse."""

    message_id: str
    identity: str
    # SHA-256 of the headers every copy of the email shares and of its body: the identity
    # of mail without a Message-ID, and the test for a Message-ID reused by another email.
    content_hash: str = ""

    @property
    def reused_identity(self) -> str:
        """The identity of this email when its Message-ID already names a different one."""
        base = self.identity
        if len(base) + 17 > 255:
            base = f"mid#{hashlib.sha256(self.message_id.encode()).hexdigest()}"
        return f"{base}#{self.content_hash[:16]}"


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    # Shown inside the HTML body (referenced there as cid:), not listed as a download.
    is_inline: bool = False


@dataclass
class ParsedMessage:
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    kind: Kind = Kind.NORMAL
    kind_reason: str = ""
    bounced_message_id: str = ""
    # Outlook's Thread-Index: the 22 bytes naming the conversation, as hex.
    thread_index: str = ""
    # The header the sender was taken from when the email has no usable From
    # ("Sender", "Reply-To", "Return-Path"); "" when it came from From.
    sender_header: str = ""

    # Other things a reader should know of how the email was read (a cut-short part).
    notices: list[str] = field(default_factory=list)

    @property
    def notice(self) -> str:
        """What a reader should know about how this email was read; "" when nothing."""
        said = list(self.notices)
        if self.sender_header:
            said.insert(
                0, f"This email has no From: the sender is taken from its {self.sender_header}."
            )
        return " ".join(said)


_MSGID = re.compile(r"<([^<>\s]+)>")
_IDENTITY_HEADERS = (b"from", b"to", b"cc", b"date", b"subject")


# Bounds on what one header block can make every later step read: threading looks up
# each reference, capture each recipient.
MAX_MIME_PARTS = 2_000
MAX_ADDRESSES = 500
MAX_REFERENCES = 100
_PART_HEADER = re.compile(rb"^content-type[ \t]*:", re.I | re.M)


def _kept_references(references: list[str]) -> list[str]:
    """The thread's root and its most recent references (RFC 5322 3.6.4 lets a writer
    trim the middle the same way)."""
    if len(references) <= MAX_REFERENCES:
        return references
    return [references[0], *references[-(MAX_REFERENCES - 1) :]]


def id_text(data: bytes) -> str:
    """Raw header bytes of an identifier (Message-ID, In-Reply-To, References) as text.

    RFC 6532 (SMTPUTF8) mail writes them in UTF-8, and a reply quotes the same bytes:
    read as UTF-8 they match, never as "?" or U+FFFD. Bytes that are not UTF-8 are read
    as Latin-1, which maps every byte to one character: the same bytes are always the
    same text, so the email and a reply to it still meet.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _ids(value: str | None) -> list[str]:
    """Message-IDs in a header, without angle brackets; tolerant of missing brackets.

    `value` as the parser keeps it: raw 8-bit bytes as surrogates, read by id_text.
    """
    if not value:
        return []
    if _SURROGATE.search(value):
        value = id_text(value.encode("utf-8", "surrogateescape"))
    found = _MSGID.findall(value)
    if not found and value.strip() and " " not in value.strip():
        found = [value.strip().strip("<>")]
    return found


# One pass over the header block finds every header the envelope needs. Matching after
# a newline (the block is given one in front) lets the regex engine jump between lines.
_ENVELOPE_HEADER = re.compile(
    rb"\n(message-id|from|to|cc|date|subject)[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)",
    re.I,
)
_MESSAGE_ID_HEADER = re.compile(
    rb"\nmessage-id[ \t]*:[ \t]*([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)", re.I
)


def _header_end(raw: bytes) -> tuple[int, int]:
    """Where the header block ends and the body starts (bytes.find: no regex scan).

    The CRLF blank line is looked for first, and the bare-LF one only before it: mail
    from IMAP is CRLF throughout, and a search for "\n\n" alone would scan its whole body.
    """
    crlf = raw.find(b"\n\r\n")
    lf = raw.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(raw))
    if lf >= 0:
        end, body = lf, lf + 2
    elif crlf >= 0:
        end, body = crlf, crlf + 3
    else:
        return len(raw), len(raw)
    return (end - 1 if end and raw[end - 1 : end] == b"\r" else end), body


def read_envelope(raw: bytes) -> Envelope:
    """Message-ID, identity and content hash from the raw bytes; never raises.

    The identity is the Message-ID when there is one; otherwise the content hash: a hash
    of the headers that every copy of the same email shares (not Received or
    Delivered-To, which differ per mailbox) plus the body. Regular expressions read the
    headers: a full header parse per message would cap the initial sync at a few
    thousand messages per second.
    """
    envelope = read_identity(raw)
    if envelope.content_hash:
        return envelope
    return replace(envelope, content_hash=content_hash(raw))


def read_identity(raw: bytes) -> Envelope:
    """read_envelope, with the content hash only where it is the identity (no Message-ID).

    Hashing the normalised body costs more than everything else the sync does with a
    message, and it is needed only when a Message-ID is missing or turns out to be taken
    by another email; `content_hash` computes it then.
    """
    end, _ = _header_end(raw)
    match = _MESSAGE_ID_HEADER.search(b"\n" + raw[:end])
    ids = _ids(id_text(match.group(1))) if match else []
    message_id = ids[0] if ids else ""
    if not message_id:
        digest = content_hash(raw)
        return Envelope("", f"hash:{digest}", digest)
    if len(message_id) <= 250:
        return Envelope(message_id, f"mid:{message_id}")
    return Envelope(message_id, f"mid#{hashlib.sha256(message_id.encode()).hexdigest()}")


def content_hash(raw: bytes) -> str:
    """SHA-256 of the headers every copy of an email shares and of its body."""
    end, body_start = _header_end(raw)
    found: dict[bytes, bytes] = {}
    for match in _ENVELOPE_HEADER.finditer(b"\n" + raw[:end]):
        found.setdefault(match.group(1).lower(), match.group(2))
    digest = hashlib.sha256()
    for name in _IDENTITY_HEADERS:
        # Unfolded and with whitespace collapsed: a server that refolds a long header
        # must not make the same email a different one.
        digest.update(name + b":" + b" ".join(found.get(name, b"").split()) + b"\n")
    digest.update(raw[body_start:].replace(b"\r\n", b"\n"))
    return digest.hexdigest()


# -- headers ----------------------------------------------------------------------------

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATE = re.compile("[\ud800-\udfff]")
# RFC 2047 encoded word; the charset may carry an RFC 2231 language suffix (*en).
# Mailers put spaces inside the encoded text (RFC 2047 forbids them), and fold a long
# word across lines: the text is anything up to "?=".
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([qQbB])\?([^?]*)\?=")
_QP_BYTE = re.compile(rb"=([0-9A-Fa-f]{2})")


def _has_surrogate(value: str) -> bool:
    """Whether `value` holds surrogates (raw 8-bit bytes the parser kept): checked in C,
    ASCII first, then by encoding (a regex scan of a 10 KB body cost 0.2 ms)."""
    if value.isascii():
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _raw_headers(msg: Message) -> dict[str, str]:
    """Lower-cased name -> the first raw value, unfolded; cheap (no header parsing)."""
    headers: dict[str, str] = {}
    for name, value in msg.raw_items():
        key = name.lower()
        # The first one with a value: some mailers write an empty From before the real one.
        if not headers.get(key, "").strip():
            headers[key] = _FOLD.sub("", str(value))
    return headers


def _eight_bit(value: str, hint: str | None) -> str:
    """Raw 8-bit header bytes (kept by the parser as surrogates) read as text."""
    if not _has_surrogate(value):
        return value
    return charsets.decode(value.encode("utf-8", "surrogateescape"), hint=hint)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    # surrogateescape: raw 8-bit bytes inside an encoded word (invalid, but sent) are kept.
    data = text.encode("utf-8", "surrogateescape")
    if encoding in "qQ":
        return _QP_BYTE.sub(lambda m: bytes([int(m.group(1), 16)]), data.replace(b"_", b" "))
    data = b"".join(data.split())
    try:
        return base64.b64decode(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def decode_words(value: str, *, hint: str | None = None, lies: dict[str, str] | None = None) -> str:
    """A header value with RFC 2047 encoded words and raw 8-bit bytes decoded.

    Adjacent encoded words in one charset are joined before decoding, so a character
    split across two words (common with UTF-8 in base64) survives; whitespace between
    encoded words is dropped, as RFC 2047 says. `lies` maps a declared charset to the
    one the body turned out to be in: a mailer that mislabels its body mislabels its
    subject too, which is too short to detect on its own.
    """
    if "=?" not in value:
        return _eight_bit(value, hint)
    pieces: list[str | tuple[bytes, str]] = []
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        between = value[position : match.start()]
        previous_encoded = bool(pieces) and isinstance(pieces[-1], tuple)
        if between and not (between.isspace() and previous_encoded):
            pieces.append(_eight_bit(between, hint))
        charset = match.group(1).partition("*")[0].lower()
        data = _word_bytes(match.group(2), match.group(3))
        if data is None:
            pieces.append(match.group(0))
        elif pieces and isinstance(pieces[-1], tuple) and pieces[-1][1] == charset:
            pieces[-1] = (pieces[-1][0] + data, charset)
        else:
            pieces.append((data, charset))
        position = match.end()
    pieces.append(_eight_bit(value[position:], hint))
    out = []
    for piece in pieces:
        if isinstance(piece, str):
            out.append(piece)
        else:
            data, charset = piece
            lie = (lies or {}).get(charsets.codec_for(charset) or "")
            out.append(charsets.decode(data, lie or charset, hint=hint))
    return "".join(out)


def _text(value: str, limit: int | None = None) -> str:
    """Text safe to store in any database: no NUL (PostgreSQL refuses it), no surrogates."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if _has_surrogate(value):
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:limit] if limit else value


def _utf8(value: str) -> str:
    """Header text whose raw 8-bit bytes (surrogates) are an identifier: see id_text."""
    if not _has_surrogate(value):
        return value
    return id_text(value.encode("utf-8", "surrogateescape"))


def _addresses(value: str, hint: str | None, lies: dict[str, str]) -> list[tuple[str, str]]:
    """(display name, lower-cased address) pairs; names decoded after splitting, so an
    encoded comma in a name cannot split an address."""
    pairs = []
    # Split on the raw text: the address part is UTF-8 (RFC 6532) whatever the body's
    # charset hints, the display name is read like any 8-bit header text.
    for name, address in getaddresses([value]):
        address = _text(_utf8(address).strip().lower())
        if "@" in address:
            pairs.append((_text(decode_words(name, hint=hint, lies=lies).strip()), address))
    return pairs


# Where a sender is looked for when From has none, in order (RFC 5322 3.6.2, then the
# envelope sender the delivering server recorded).
_SENDER_HEADERS = ("from", "sender", "reply-to", "return-path")


def _without_comments(value: str) -> str:
    """A header value without its (comments), nested ones included; quoted text kept."""
    out, depth, quoted, escaped = [], 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif char == '"' and depth == 0:
            quoted = not quoted
            out.append(char)
        elif char == "(" and not quoted:
            depth += 1
        elif char == ")" and not quoted and depth:
            depth -= 1
            out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _sender(
    headers: dict[str, str], hint: str | None, lies: dict[str, str]
) -> tuple[str, str, str]:
    """(display name, address, the header it came from) of the email's sender.

    Never empty when any sender header has something: a From with a name and no
    address, with "<>" or with an address without a domain keeps the name and what
    there is of the address; a missing From falls back to Sender, Reply-To, then
    Return-Path (the header is returned, to say so on the message). Comments are not
    part of the name ("Pete(A nice chap) <pete@silly.test>" is Pete), except the old
    form "pete@silly.test (Pete)", where the comment is the only name there is.
    """
    for header in _SENDER_HEADERS:
        value = headers.get(header, "").strip()  # raw: the name and address decode apart
        if not value or value == "<>":
            continue
        bare = _without_comments(value)
        pairs = getaddresses([bare if "<" in bare else value])
        name, address = pairs[0] if pairs else ("", "")
        if "<" not in bare and "@" not in bare:
            # A name and no address at all: "John Smith" (getaddresses keeps one word).
            name, address = " ".join(bare.replace('"', " ").split()), ""
        elif "<" in bare:
            phrase = bare.split("<", 1)[0].strip()
            if len(phrase) >= 2 and phrase[0] == phrase[-1] == '"':  # one quoted string
                phrase = re.sub(r"\\(.)", r"\1", phrase[1:-1])
            else:  # words, quoted ones among them; an unquoted comma stays in the name
                phrase = phrase.replace('"', " ")
            name = " ".join(phrase.split()) or name
            # The address in the angle brackets, even when an unquoted comma in the name
            # made getaddresses see two addresses.
            if angle := re.search(r"<([^<>]*)>", bare):
                address = "".join(angle.group(1).split())
                address = address[7:] if address.lower().startswith("mailto:") else address
                if address.startswith("@") and ":" in address:  # an obsolete source route
                    address = address.partition(":")[2]
        name = _text(decode_words(name, hint=hint, lies=lies).strip())[:500]
        address = _text(_utf8(address).strip().lower())[:320]
        if name or address:
            return name, address, header
    return "", "", "from"


def _date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _thread_index(value: str) -> str:
    """The conversation part of Outlook's Thread-Index (its first 22 bytes), as hex."""
    try:
        data = base64.b64decode("".join(value.split()), validate=False)
    except (binascii.Error, ValueError):
        return ""
    return data[:22].hex() if len(data) >= 22 else ""


# -- bodies and attachments ------------------------------------------------------------

_TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
# How deep forwarded messages inside forwarded messages are read for their text.
_MAX_FORWARD_DEPTH = 3
_GENERATOR_POLICY = policy.compat32.clone(linesep="\r\n")
# Python's built-in table only, not the machine's /etc/mime.types: the same email gets
# the same generated names and types on every machine.
_MIME_TYPES = mimetypes.MimeTypes()
for _type, _extension in (
    ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", ".docx"),
    ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".xlsx"),
    ("application/vnd.openxmlformats-officedocument.presentationml.presentation", ".pptx"),
    ("application/vnd.oasis.opendocument.text", ".odt"),
    ("application/vnd.oasis.opendocument.spreadsheet", ".ods"),
    ("application/vnd.ms-outlook", ".msg"),
    ("application/x-7z-compressed", ".7z"),
    ("application/vnd.rar", ".rar"),
):
    _MIME_TYPES.add_type(_type, _extension)


@dataclass
class _Content:
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    # Declared charset -> the one the body really was in, when they differ.
    lies: dict[str, str] = field(default_factory=dict)
    charset: str | None = None
    notices: list[str] = field(default_factory=list)


def _raw_header(part: Message, name: str) -> str:
    """A part's raw header value, unfolded; "" when absent. No header-registry parse."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return _FOLD.sub("", str(value))
    return ""


def _param(raw: str, name: str, hint: str | None = None) -> str | None:
    """A parameter of a raw Content-Type or Content-Disposition value.

    Read with the compat32 parameter parser: it is several times faster than the modern
    header registry, and the modern one turns raw 8-bit bytes into U+FFFD and drops
    unquoted encoded words (name==?utf-8?...). RFC 2231 continuations and charsets are
    collapsed here; RFC 2047 encoded words are left to the caller.
    """
    if not raw or name not in raw.lower():
        return None
    compat = Message()  # compat32
    # Raw 8-bit bytes decoded first: compat32 would make them U+FFFD when read.
    compat["content-type"] = _eight_bit(raw, hint)
    try:
        value = compat.get_param(name)
        if isinstance(value, tuple):
            charset, _language, text = value
            value = charsets.decode(text.encode("latin-1", "surrogateescape"), charset or None)
    except Exception:  # noqa: BLE001 - malformed parameters raise all kinds of errors
        return None
    return str(value) if value else None


def _ctype(part: Message) -> str:
    """The part's content type, as the stdlib decides it, from the raw header.

    get_content_type() parses the header with the header registry on every call; the
    walk below asks for each part's type several times.
    """
    raw = _raw_header(part, "content-type")
    if not raw:
        return part.get_default_type()
    value = "".join(raw.split(";", 1)[0].split()).lower()
    return value if value.count("/") == 1 else "text/plain"


def _disposition(part: Message) -> str:
    return _raw_header(part, "content-disposition").split(";", 1)[0].strip().lower()


def _leaves(msg: Message) -> list[tuple[Message, str, str]]:
    """Every non-multipart part, its content type and the subtype of the multipart
    holding it, in order.

    A message/rfc822 part is a leaf: a forwarded email stays one attachment. Iterative,
    so that a hostile nesting depth cannot exhaust the stack.
    """
    leaves: list[tuple[Message, str, str]] = []
    stack: list[tuple[Message, str]] = [(msg, "")]
    while stack:
        part, parent = stack.pop()
        ctype = _ctype(part)
        if ctype.startswith("multipart/") and part.is_multipart():
            subtype = ctype.partition("/")[2]
            stack.extend((sub, subtype) for sub in reversed(part.get_payload()))
        else:
            leaves.append((part, ctype, parent))
    return leaves


def _bodies(msg: Message) -> tuple[Message | None, Message | None]:
    """The text/plain and text/html body parts, chosen as EmailMessage.get_body() does.

    The first of each kind in document order that is not an attachment, looking only
    at the root part of a multipart/related; one walk for both, on raw types.
    """
    text = html = None
    stack = [msg]
    while stack and (text is None or html is None):
        part = stack.pop()
        if _disposition(part) == "attachment":
            continue
        maintype, _, subtype = _ctype(part).partition("/")
        if maintype == "text":
            if subtype == "plain" and text is None:
                text = part
            elif subtype == "html" and html is None:
                html = part
            continue
        if maintype != "multipart" or not part.is_multipart():
            continue
        parts = part.get_payload()
        if subtype != "related":
            stack.extend(reversed(parts))
            continue
        start = _param(_raw_header(part, "content-type"), "start")
        root = next((p for p in parts if start and _raw_header(p, "content-id") == start), None)
        if root is None and parts:
            root = parts[0]
        if root is not None:
            stack.append(root)
    return text, html


def _still_encoded(part: Message) -> bytes | None:
    """The part's payload as the stdlib gives it back when it could not decode it."""
    try:
        return str(part.get_payload()).encode("ascii", "surrogateescape")
    except UnicodeError:
        return None


def _payload(part: Message) -> tuple[bytes, bool]:
    """A leaf's decoded bytes, and whether its base64 was cut short.

    The stdlib gives back base64 of an impossible length (a mailer or a relay cut it
    mid-way) still encoded; it is decoded here as far as it goes, as mail clients do.
    """
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(payload or "").encode("utf-8", "surrogateescape"), False
    if _raw_header(
        part, "content-transfer-encoding"
    ).strip().lower() in _UU_ENCODINGS and payload == _still_encoded(part):
        # The stdlib decodes uuencode only from its "begin" line and otherwise gives the
        # text back still encoded; mailers that drop the line still send the file.
        data = _uu_lines(payload.decode("latin-1").splitlines())
        return (payload, False) if data is None else (data, False)
    if not any(isinstance(d, InvalidBase64LengthDefect) for d in part.defects):
        return payload, False
    encoded = re.sub(rb"[^A-Za-z0-9+/]", b"", payload.split(b"=", 1)[0])
    whole = len(encoded) // 4 * 4
    rest = encoded[whole:]
    try:
        data = base64.b64decode(encoded[:whole])
        if len(rest) >= 2:
            data += base64.b64decode(rest + b"=" * (4 - len(rest)))
    except (binascii.Error, ValueError):
        return payload, False
    return data, True


def _decode_text(part: Message, lies: dict[str, str], hint: str | None) -> tuple[str, str]:
    """A text part as text, and the codec it was read with."""
    payload, _cut = _payload(part)
    if not isinstance(payload, bytes):
        payload = str(payload or "").encode("utf-8", "surrogateescape")
    declared = _param(_raw_header(part, "content-type"), "charset")
    declared = declared.strip().lower() if declared else None
    if declared is None and _ctype(part) == "text/html":
        found = _META_CHARSET.search(payload[:4096])
        declared = found.group(1).decode("ascii").lower() if found else None
    text, codec = charsets.decode_as(payload, declared, hint=hint)
    # A Western label on 8-bit text of another script (not on UTF-8, which a subject
    # would show by itself): remembered for the headers of the same mailer.
    lied = codec not in ("utf-8", "ascii") and not charsets.is_western(codec)
    if declared and lied and charsets.is_western(declared):
        lies[charsets.codec_for(declared) or declared] = codec
    return _text(text.replace("\r\n", "\n")), codec


def _get_filename(part: Message, hint: str | None = None) -> str | None:
    """The file name as sent: Content-Disposition filename, else Content-Type name."""
    return _param(_raw_header(part, "content-disposition"), "filename", hint) or _param(
        _raw_header(part, "content-type"), "name", hint
    )


def _filename(part: Message, position: int, content_type: str, hint: str | None) -> str:
    name = _get_filename(part, hint)
    if not name and content_type in ("message/rfc822", "message/global") and part.is_multipart():
        inner = part.get_payload(0)
        subject = decode_words(_raw_header(inner, "subject"), hint=hint)
        name = f"{subject.strip() or 'forwarded message'}.eml"
    name = safe_filename(decode_words(str(name or ""), hint=hint))
    if not name:
        extension = _MIME_TYPES.guess_extension(content_type) or ".bin"
        name = f"part-{position}{extension}"
    return name


def safe_filename(name: str) -> str:
    """A file name as a download may carry it: no directories, no control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if c.isprintable()).strip()
    if name in (".", ".."):
        return ""
    if len(name) > 255:
        stem, dot, extension = name.rpartition(".")
        keep = f"{dot}{extension}" if dot and len(extension) <= 16 else ""
        name = (stem if keep else name)[: 255 - len(keep)] + keep
    return _text(name)


def _safe_type(content_type: str) -> str:
    """The type as a download may announce it; anything odd is plain bytes."""
    return content_type if _CONTENT_TYPE.match(content_type) else "application/octet-stream"


def _message_bytes(part: Message) -> bytes:
    """A message/* part's content as bytes (a forwarded email as a .eml file)."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        data = part.get_payload(decode=True)
        return data if isinstance(data, bytes) else b""
    out = BytesIO()
    for inner in payload:
        try:
            # compat32 writes headers back as they came; the modern policy would refold.
            BytesGenerator(out, mangle_from_=False, policy=_GENERATOR_POLICY).flatten(inner)
        except Exception:  # noqa: BLE001 - a broken inner message is still kept as text
            out.write(str(inner).encode("utf-8", "surrogateescape"))
    return out.getvalue()


def _path_to(msg: Message, target: Message) -> tuple[int, ...] | None:
    """The indexes that lead from `msg` through multipart payloads to `target`."""
    stack: list[tuple[Message, tuple[int, ...]]] = [(msg, ())]
    while stack:
        part, path = stack.pop()
        if part is target:
            return path
        if _ctype(part).startswith("multipart/") and part.is_multipart():
            stack.extend((sub, (*path, i)) for i, sub in enumerate(part.get_payload()))
    return None


def _split_parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The parts of a multipart body as the stdlib's feed parser splits them: a
    delimiter is a whole line "--boundary" (or "--boundary--", which ends the parts),
    and the line break before it belongs to it. An unterminated last part runs to the
    end."""
    delimiter = re.compile(rb"^--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\n|\r|\Z)", re.M)
    parts: list[bytes] = []
    start: int | None = None
    for match in delimiter.finditer(body):
        if start is not None:
            end = match.start()
            end -= 2 if body[end - 2 : end] == b"\r\n" else 1 if end > start else 0
            parts.append(body[start : max(start, end)])
        if match.group(1):  # the close delimiter
            return parts
        start = match.end()
    if start is not None:
        parts.append(body[start:])
    return parts


def _raw_body(region: bytes) -> bytes:
    """What follows the header block of a part or message (all of it when the part has
    no headers: it starts with the blank line)."""
    if region.startswith((b"\r\n", b"\n")):
        return region[2 if region.startswith(b"\r\n") else 1 :]
    return region[_header_end(region)[1] :]


def _original_bytes(raw: bytes, msg: Message, part: Message) -> bytes | None:
    """A forwarded email (a message/rfc822 part) as it came, byte for byte, sliced from
    the raw message: re-serialising the parsed email refolds and re-encodes headers.
    None when the slice cannot be found or does not match what the parser read."""
    path = _path_to(msg, part)
    if path is None:
        return None
    region = raw
    for index in path:
        boundary = _PARSER.parsebytes(region[: _header_end(region)[0]], headersonly=True)
        name = boundary.get_boundary()
        if not name:
            return None
        parts = _split_parts(_raw_body(region), name.encode("utf-8", "surrogateescape"))
        if index >= len(parts):
            return None
        region = parts[index]
    data = _raw_body(region)
    encoding = _raw_header(part, "content-transfer-encoding").strip().lower()
    if encoding in ("base64", "quoted-printable"):
        # Not allowed on message/rfc822 (RFC 2046 5.2.1), but sent: the file is the
        # email, decoded (the stdlib parsed the encoded text as if it were the email).
        try:
            if encoding == "base64":
                return base64.b64decode(b"".join(data.split()) + b"==", validate=False) or None
            return quopri.decodestring(data) or None
        except (binascii.Error, ValueError):
            return None
    inner = part.get_payload(0) if part.is_multipart() else None
    if inner is None:
        return None
    # The slice must be the email the parser read: the same headers in the same order.
    sliced = _PARSER.parsebytes(data[: _header_end(data)[0]], headersonly=True)
    if [k.lower() for k, _v in sliced.raw_items()] != [k.lower() for k, _v in inner.raw_items()]:
        return None
    return data


def _forwarded_part(data: bytes) -> Message:
    """A message/rfc822 part holding the email `data`, as the parser would have made it."""
    holder = Message()
    holder["Content-Type"] = "message/rfc822"
    holder.set_payload([_PARSER.parsebytes(data)])
    return holder


def _unpack_tnef(data: bytes, hint: str | None) -> _Content | None:
    """The files and body inside an Outlook winmail.dat; None if it cannot be read."""
    from tnefparse import TNEF  # imported here: only Outlook's rich-text mail needs it

    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception:  # noqa: BLE001 - a corrupt winmail.dat stays an attachment
        return None
    content = _Content()
    for position, item in enumerate(tnef.attachments, start=1):
        payload = item.data if isinstance(item.data, bytes) else b""
        try:
            raw_name = item.long_filename() or item.name
        except UnicodeDecodeError:
            # tnefparse reads the legacy file name as UTF-8; Outlook writes it in the
            # message's code page ("Grüße.txt" in windows-1252).
            raw_name = getattr(item, "_name", b"")
        if isinstance(raw_name, bytes):
            raw_name = charsets.decode(raw_name.rstrip(b"\x00"), tnef.codepage or hint)
        name = safe_filename(str(raw_name).rstrip("\x00"))
        guessed = _MIME_TYPES.guess_type(name)[0] if name else None
        content.attachments.append(
            ParsedAttachment(
                filename=name or f"attachment-{position}.bin",
                content_type=guessed or "application/octet-stream",
                data=payload,
            )
        )
    for attribute, target in (("body", "text"), ("htmlbody", "html")):
        value = getattr(tnef, attribute, None)
        if isinstance(value, bytes):
            value = charsets.decode(value.rstrip(b"\x00"), hint=hint)
        if value:
            setattr(content, target, _text(str(value).replace("\r\n", "\n")))
    if not (content.text or content.html) and tnef.has_body():
        try:
            rtf = tnef.rtfbody
        except Exception:  # noqa: BLE001 - a corrupt RTF stream: the .dat still has it
            rtf = None
        if isinstance(rtf, bytes) and rtf.startswith(b"{\\rtf"):
            content.attachments.append(ParsedAttachment("message.rtf", "application/rtf", rtf))
    if not (content.attachments or content.text or content.html):
        return None
    return content


def _content(
    msg: Message, hint: str | None = None, depth: int = 0, raw: bytes | None = None
) -> _Content:
    """Text and HTML bodies and every other part as an attachment: nothing is dropped.

    `raw`: the bytes `msg` was parsed from, to keep forwarded emails as they came."""
    content = _Content()
    text_part, html_part = _bodies(msg)
    leaves = _leaves(msg)
    if text_part is None and html_part is None:
        # No body by the rules (e.g. a multipart without its boundary): the first text
        # part without a file name is the body.
        for part, ctype, _parent in leaves:
            if ctype.startswith(("text/", "multipart/")) and not _get_filename(part):
                if ctype == "text/html":
                    html_part = part
                else:
                    text_part = part
                break
    if html_part is not None:
        content.html, content.charset = _decode_text(html_part, content.lies, hint)
    if text_part is not None:
        content.text, codec = _decode_text(text_part, content.lies, hint)
        # The hint for raw 8-bit headers and file names: the body's most telling charset
        # (an ASCII text part says nothing about the GBK of its HTML twin).
        if content.charset is None or not _telling(content.charset) or _telling(codec):
            content.charset = codec
    hint = hint or content.charset
    forwarded: list[str] = []
    reports: list[str] = []
    # Text and HTML parts side by side in a multipart/mixed (several of each, images
    # between): shown all, in order, as mail clients do, not only the first HTML.
    inline = [(p, c) for p, c, parent in leaves if parent == "mixed" and _is_inline_text(p, c)]
    in_order: list[tuple[str, str]] | None = None
    if len(inline) > 1 and any(c == "text/html" for _p, c in inline):
        in_order = []
    position = 0
    for part, ctype, parent in leaves:
        content_type = _safe_type(ctype)
        if in_order is not None and parent == "mixed" and _is_inline_text(part, ctype):
            if part is text_part:
                in_order.append(("text", content.text))
            elif part is html_part:
                in_order.append(("html", content.html))
            else:
                decoded, _codec = _decode_text(part, content.lies, hint)
                in_order.append(("html" if ctype == "text/html" else "text", decoded))
            continue
        if part is text_part or part is html_part:
            continue
        if parent == "report" and content_type in _REPORT_TYPES:
            # The machine-readable part of a delivery or read report: shown as text.
            data = _message_bytes(part) if part.is_multipart() else _payload(part)[0]
            reports.append(_text(charsets.decode(data).replace("\r\n", "\n")).strip())
            continue
        if (
            in_order is None
            and text_part is not None
            and content_type == "text/plain"
            and parent == "mixed"
            and _disposition(part) != "attachment"
            and not _get_filename(part)
        ):
            # More text after an inline image or a list footer: part of the body.
            more, _codec = _decode_text(part, content.lies, hint)
            content.text = f"{content.text.rstrip()}\n\n{more}" if more.strip() else content.text
            continue
        position += 1
        filename = _filename(part, position, content_type, hint)
        if ctype.startswith("message/"):
            is_email = content_type in ("message/rfc822", "message/global")
            exact = _original_bytes(raw, msg, part) if is_email and raw is not None else None
            data = exact if exact is not None else _message_bytes(part)
            shown = part
            encoding = _raw_header(part, "content-transfer-encoding").strip().lower()
            if exact is not None and encoding in ("base64", "quoted-printable"):
                # Read from the decoded email: the parser took the encoded text for one.
                shown = _forwarded_part(exact)
            if is_email and shown.is_multipart() and depth < _MAX_FORWARD_DEPTH:
                forwarded.append(_forwarded_text(shown.get_payload(0), hint, depth))
        else:
            data, cut_short = _payload(part)
            if cut_short:
                content.notices.append(
                    f"The attachment {filename} was cut short in transit: "
                    "it holds what arrived of it."
                )
        if content_type in _TNEF_TYPES or filename.lower() == "winmail.dat":
            unpacked = _unpack_tnef(data, hint)
            if unpacked is not None:
                content.attachments.extend(unpacked.attachments)
                content.text = content.text or unpacked.text
                content.html = content.html or unpacked.html
                continue
        content_id = _raw_header(part, "content-id").strip().strip("<>").strip()
        if in_order is not None and parent == "mixed" and content_type.startswith("image/"):
            # An image between the parts shows where it was sent.
            content_id = content_id or f"postroom-part-{position}"
            in_order.append(("image", content_id))
        content.attachments.append(
            ParsedAttachment(filename, content_type, data, _text(content_id, 998))
        )
    if in_order:
        _join_in_order(content, in_order)
    if reports:
        block = "---------- Delivery report ----------\n" + "\n\n".join(reports)
        content.text = f"{content.text.rstrip()}\n\n{block}".lstrip("\n")
        if content.html:
            content.html += f'<pre style="white-space: pre-wrap">{html_escape.escape(block)}</pre>'
    if "\nbegin " in f"\n{content.text}" or "\nM" in f"\n{content.text}":
        content.text = _uudecoded(content.text, content.attachments)
    if forwarded:
        content.text = "\n\n".join([content.text.rstrip(), *forwarded]).lstrip("\n")
    if content.html and content.attachments:
        # One scan of the HTML for all its references: a search per part is quadratic
        # for an email of 10,000 parts.
        cited = {unquote(c).strip("<>").lower() for c in _CID_REFERENCE.findall(content.html)}
        for attachment in content.attachments:
            cid = attachment.content_id.lower()
            attachment.is_inline = bool(cid) and cid in cited
    return content


_REPORT_TYPES = frozenset(
    {
        "message/delivery-status", "message/global-delivery-status",
        "message/disposition-notification", "message/global-disposition-notification",
        "text/rfc822-headers", "message/rfc822-headers", "message/global-headers",
    }
)  # fmt: skip


def _is_inline_text(part: Message, ctype: str) -> bool:
    return (
        ctype in ("text/plain", "text/html")
        and _disposition(part) != "attachment"
        and not _get_filename(part)
    )


def _join_in_order(content: _Content, in_order: list[tuple[str, str]]) -> None:
    """One HTML body (and its text) of the text, HTML and image parts in their order."""
    html, text = [], []
    for kind, value in in_order:
        if kind == "html":
            html.append(value)
            text.append(_text_of_html(value))
        elif kind == "text":
            escaped = html_escape.escape(value)
            html.append(f'<pre style="white-space: pre-wrap">{escaped}</pre>')
            text.append(value)
        else:
            html.append(f'<p><img src="cid:{html_escape.escape(value, quote=True)}" alt=""></p>')
    content.html = "\n".join(html)
    content.text = "\n\n".join(t.strip("\n") for t in text if t.strip())


_UU_BLOCK = re.compile(r"^begin [0-7]{3,4} ([^\n]+)\n(.*?)^end[ \t]*$\n?", re.M | re.S)
# Uuencode without its "begin" line (a mailer or a list that cut it): at least three
# full lines ("M" and 60 characters of the uuencode alphabet, 45 bytes each: no text
# looks like that), then the short last line, the empty one and "end" where present.
_UU_HEADLESS = re.compile(
    r"^(?:M[ -`]{60}\n){3,}(?:[!-L][ -`]*\n)?(?:[` ]\n)?(?:end[ \t]*(?:\n|\Z))?", re.M
)
# One full uuencode line: searched first, by its literal start (the multi-line pattern
# above, anchored with re.M, tries every position of every text that has an "M").
_UU_FULL_LINE = re.compile(r"\nM[ -`]{60}\r?\n")
_UU_ENCODINGS = frozenset({"x-uuencode", "uuencode", "uue", "x-uue"})
# The first bytes of the files a headless uuencode most often carries: its name is lost.
_MAGIC = (
    (b"\x89PNG", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF8", "image/gif", ".gif"),
    (b"%PDF", "application/pdf", ".pdf"),
    (b"PK\x03\x04", "application/zip", ".zip"),
)


def _uu_lines(lines: list[str]) -> bytes | None:
    """The bytes of uuencoded lines (without "begin"); None if they are not uuencode."""
    data = bytearray()
    for line in lines:
        line = line.rstrip("\r")
        if line.startswith("begin ") and not data:
            continue
        if not line or line in ("`", " ") or line.rstrip() == "end":
            continue
        try:
            data += binascii.a2b_uu(line)
        except (binascii.Error, ValueError):
            # Writers that pad short lines wrongly: decode the bytes the count says.
            count = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
            try:
                data += binascii.a2b_uu(line[:count])
            except (binascii.Error, ValueError):  # ValueError: not ASCII
                return None
    return bytes(data) if data else None


def _uudecoded(text: str, attachments: list[ParsedAttachment]) -> str:
    """Uuencoded files inside a text body ("begin 644 name" ... "end", or the lines
    alone when the "begin" line was lost) as attachments."""

    def extract(match: re.Match[str]) -> str:
        data = _uu_lines(match.group(2).splitlines())
        if data is None:
            return match.group(0)  # not uuencode after all: left as text
        name = safe_filename(match.group(1).strip()) or "uuencoded.bin"
        guessed = _MIME_TYPES.guess_type(name)[0] or "application/octet-stream"
        attachments.append(ParsedAttachment(name, guessed, data))
        return ""

    def headless(match: re.Match[str]) -> str:
        data = _uu_lines(match.group(0).splitlines())
        if data is None:
            return match.group(0)
        kind, extension = next(
            ((k, e) for magic, k, e in _MAGIC if data.startswith(magic)),
            ("application/octet-stream", ".bin"),
        )
        attachments.append(
            ParsedAttachment(f"uuencoded-{len(attachments) + 1}{extension}", kind, data)
        )
        return ""

    decoded, found = _UU_BLOCK.subn(extract, text) if "begin " in text else (text, 0)
    if _UU_FULL_LINE.search(f"\n{decoded}"):
        decoded, more = _UU_HEADLESS.subn(headless, decoded)
        found += more
    return decoded.rstrip() + "\n" if found else text


def _telling(codec: str | None) -> bool:
    """Whether a codec says more than "ASCII, UTF-8 or Western" about a message's bytes."""
    return bool(codec) and codec not in ("ascii", "utf-8") and not charsets.is_western(codec)


# The line above each forwarded email's text appended to the body (mail.forwarded
# finds it there to show the forwarded emails in blocks of their own).
FORWARD_MARK = "---------- Forwarded message ----------"


def _forwarded_head(inner: Message, hint: str | None) -> str:
    """The mark and header lines that open a forwarded email's text."""
    headers = _raw_headers(inner)
    lines = [FORWARD_MARK]
    for name in ("from", "date", "subject", "to", "cc"):
        if value := headers.get(name, "").strip():
            lines.append(f"{name.title()}: {_text(decode_words(value, hint=hint))}")
    return "\n".join(lines)


def forwarded_head(data: bytes) -> str:
    """The head of the text the parser appends for the forwarded email `data` (its
    stored bytes), for finding that copy in the forwarding email's text; "" when the
    bytes cannot be read."""
    try:
        return _forwarded_head(_parse_mime(data)[0], None)
    except ParseError:
        return ""


def _forwarded_text(inner: Message, hint: str | None, depth: int) -> str:
    """A forwarded email as the text a reader expects under the forwarding note."""
    body = _content(inner, hint, depth + 1)
    text = body.text or _text_of_html(body.html)
    return _forwarded_head(inner, hint) + "\n\n" + text


# What follows "cid:" in an attribute: up to the quote, space or ">" that ends it.
_CID_REFERENCE = re.compile(r"cid:([^\s\"'<>]+)", re.I)


def _text_of_html(html: str) -> str:
    return visible_text(html[:STORED_BODY_CHARS])


# -- the whole message -----------------------------------------------------------------


# compat32: the feed parser asks each part's Content-Type several times while it splits
# the MIME tree, and the modern policy parses it with the header registry every time
# (two thirds of the whole parse, profiled on an import). Nothing here reads headers
# through the policy: raw values are read (raw_items, identical under both policies).
class _Unfolding(policy.Compat32):
    """compat32 with header values read as the raw text, unfolded as RFC 5322 says: a
    boundary folded across lines ('boundary="foo<CRLF> bar"') is "foo bar", and raw
    8-bit bytes stay a string (compat32 would make them a Header object)."""

    def header_fetch_parse(self, name: str, value: str) -> str:
        return _FOLD.sub("", value)


_PARSER = BytesParser(policy=_Unfolding())
# Headers only an email has: with none of them, the bytes are something else (a JSON
# file, an image, a text), quarantined instead of shown as an empty email.
_EMAIL_HEADERS = frozenset(
    {
        "from", "sender", "reply-to", "to", "cc", "date", "subject", "message-id",
        "mime-version", "content-type", "received", "return-path", "delivered-to",
    }
)  # fmt: skip
_OBSOLETE_NAME = re.compile(rb"^([!-9;-~]+)[ \t]+:")
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:|^[ \t]|^From ")


def _repair_headers(raw: bytes) -> bytes:
    """The header block with what stops the stdlib parser early made readable.

    Obsolete syntax (RFC 5322 section 4.5: "Subject  : x", white space before the colon)
    is normalised; a stray line that is not a header (a broken MTA's) becomes a
    continuation of the header before it instead of the start of the body, which would
    push every header after it into the body. Only the parse sees this; the stored raw
    bytes stay as they came.
    """
    end, _body = _header_end(raw)
    lines = raw[:end].split(b"\n")
    for index, line in enumerate(lines):
        if _OBSOLETE_NAME.match(line):
            lines[index] = _OBSOLETE_NAME.sub(rb"\1:", line, count=1)
        elif line.strip() and not _HEADER_LINE.match(line):
            lines[index] = b" " + line
    return b"\n".join(lines) + raw[end:]


def _parse_mime(raw: bytes) -> tuple[Message, dict[str, str]]:
    try:
        msg = _single_part(raw) or _PARSER.parsebytes(raw)
    except Exception as exc:  # noqa: BLE001 - the parser's failures are not typed
        raise ParseError(f"the MIME parser failed: {exc}") from exc
    return msg, _raw_headers(msg)


def _single_part(raw: bytes) -> Message | None:
    """A one-part email (not multipart/*, not message/*) as the stdlib parser makes it,
    at a third of its cost; None for anything else.

    The feed parser reads a body line by line only to join the lines again: for a single
    part, its payload is exactly the bytes after the blank line, decoded as it decodes
    them (ASCII with surrogateescape). So only the header block is parsed, and taken
    only when the parser read it all as headers without a defect: where the parser
    would end the headers elsewhere (a stray line, a bare CR), the full parse runs.
    """
    _end, body = _header_end(raw)
    if body >= len(raw) or body > 64 * 1024:
        return None
    msg = _PARSER.parsebytes(raw[:body])
    if msg.defects or msg.get_payload() or msg.get_content_maintype() in ("multipart", "message"):
        return None
    msg.set_payload(raw[body:].decode("ascii", "surrogateescape"))
    return msg


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw bytes into the fields Postroom shows and matches on."""
    # The regex (case-blind, per line) only when a plain count says it might matter.
    parts = raw.lower().count(b"content-type")
    if parts > MAX_MIME_PARTS:
        parts = len(_PART_HEADER.findall(raw))
    if parts > MAX_MIME_PARTS:
        # The stdlib parser costs about 0.3 ms a part: counted before it starts.
        raise ParseError(f"{parts:,} MIME parts, more than the {MAX_MIME_PARTS:,} Postroom reads")
    msg, headers = _parse_mime(raw)
    parsed_from = raw
    cut_short = any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in msg.defects)
    if cut_short or not _EMAIL_HEADERS & headers.keys():
        repaired = _repair_headers(raw)
        if repaired != raw:
            again, again_headers = _parse_mime(repaired)
            if len(_EMAIL_HEADERS & again_headers.keys()) > len(_EMAIL_HEADERS & headers.keys()):
                msg, headers, parsed_from = again, again_headers, repaired
    if not _EMAIL_HEADERS & headers.keys():
        raise ParseError("no header of an email (From, Date, Subject, ...): not an email")

    content = _content(msg, raw=parsed_from)
    hint, lies = content.charset, content.lies
    from_name, from_address, sender_header = _sender(headers, hint, lies)
    subject = _text(decode_words(headers.get("subject", ""), hint=hint, lies=lies).strip())
    kind: Classification = classify(
        msg, headers, subject=subject, from_address=from_address, text=content.text
    )
    return ParsedMessage(
        subject=subject,
        from_name=from_name,
        from_address=from_address,
        to=[a for _, a in _addresses(headers.get("to", ""), hint, lies)][:MAX_ADDRESSES],
        cc=[a for _, a in _addresses(headers.get("cc", ""), hint, lies)][:MAX_ADDRESSES],
        date=_date(headers.get("date", "")),
        in_reply_to=_text(next(iter(_ids(headers.get("in-reply-to"))), "")),
        references=_kept_references([_text(i) for i in _ids(headers.get("references"))]),
        text=content.text,
        html=content.html,
        attachments=content.attachments,
        kind=kind.kind,
        kind_reason=kind.reason,
        bounced_message_id=_text(kind.bounced_message_id),
        thread_index=_thread_index(headers.get("thread-index", "")),
        sender_header="" if sender_header == "from" else sender_header.title(),
        notices=content.notices,
    )


# -- subjects --------------------------------------------------------------------------

# Reply and forward prefixes of many mail clients and languages, with the counters some
# add (Re[2]:, Re(3):, Re^2:), and [tags] that ticket systems and lists put in front.
_REPLY_PREFIX = re.compile(
    r"^\s*(?:"
    r"(?:re|fwd?|aw|wg|sv|vs|vb|antw|antwort|tr|rv|r|res|enc|odp|pd|ynt|ilt|atb|továbbítás"
    r"|válasz|vá|doorst|ref|rif|ответ|отв|пересл|fw|ΑΠ|ΣΧΕΤ|ΠΡΘ|回复|答复|转发|回覆|轉寄|返信|転送)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]"
    r"|\[[^\[\]]{0,80}\]"
    r")\s*",
    re.IGNORECASE,
)
_FWD_SUFFIX = re.compile(r"\s*\((?:fwd|fw)\)\s*$", re.IGNORECASE)


def normalize_subject(subject: str) -> str:
    """The subject without reply/forward prefixes or leading [tags], lower-cased,
    whitespace collapsed: "RE: [Ticket#42] AW: Offer" and "Offer" are one subject."""
    subject = subject or ""
    while True:
        stripped = _REPLY_PREFIX.sub("", subject, count=1)
        if stripped == subject:
            break
        subject = stripped
    subject = _FWD_SUFFIX.sub("", subject)
    return " ".join(subject.split()).lower()[:255]
