"""Finding the quoted history and signature of a reply, to fold them away when shown.

Pure functions, no ORM; they only decide where to fold, nothing is removed from the
stored message. Plain text goes through mail-parser-reply (reply headers such as
"On ... wrote:", "Am ... schrieb", Outlook's From:/Sent: block and "-----Original
Message-----" in a dozen languages, and signatures), plus what it does not know: Russian
headers and a trailing block of "> " lines. HTML is folded at the first quote container
that mail clients mark: Gmail's gmail_quote, Apple Mail and Thunderbird's
blockquote type=cite, Outlook's divRplyFwdMsg and its border-top header block, Yahoo's
yahoo_quoted, and the signature containers before them.
"""

from __future__ import annotations

import re

from mailparser_reply import EmailMessage as ReplyMessage
from mailparser_reply.constants import MAIL_LANGUAGES

# Every language the library knows ("david" is a mail client, not a language).
_LANGUAGES = [language for language in MAIL_LANGUAGES if language != "david"]

# Reply headers the library does not know.
_EXTRA_HEADER = re.compile(
    r"^(?:"
    r"-{2,}\s*(?:Исходное сообщение|Пересылаемое сообщение|Forwarded message)\s*-{2,}"
    r"|.{0,200}(?:писал|написал|написала|пишет)(?:\(а\))?\s*:"
    r"|(?:От|From)\s*:.*\n(?:.*\n){0,2}?(?:Отправлено|Дата|Sent|Date)\s*:.*"
    r")\s*$",
    re.MULTILINE | re.IGNORECASE,
)
_QUOTED_LINE = re.compile(r"^\s*>")
# Longer texts are not split: a reply is short, and the regular expressions of the
# library are not bounded in time on pathological input.
_MAX_TEXT = 100_000


def split_reply(text: str) -> tuple[str, str]:
    """(the new part of a reply, the quoted history and signature after it).

    The second part is "" when there is nothing to fold, and also when folding would
    leave nothing visible (a forward with nothing written above it is all history, and
    all of it is worth reading).
    """
    if not text.strip() or len(text) > _MAX_TEXT:
        return text, ""
    cut = _library_cut(text)
    extra = _EXTRA_HEADER.search(text)
    if extra and (cut is None or extra.start() < cut):
        cut = _line_start(text, extra.start())
    if cut is None:
        cut = _trailing_quote(text)
    if cut is None or not text[:cut].strip():
        return text, ""
    return text[:cut].rstrip() + "\n", text[cut:]


def _line_start(text: str, position: int) -> int:
    return text.rfind("\n", 0, position) + 1


def _library_cut(text: str) -> int | None:
    """Where mail-parser-reply's first reply ends (its signature or the next header).

    The library normalises the text (strips every line), so the cut is mapped back to
    the original by counting non-empty lines, which its normalising keeps.
    """
    parsed = ReplyMessage(text=text, languages=list(_LANGUAGES), keep_hyphen_lists=True).read()
    if not parsed.replies or parsed.replies[0].headers:
        return None  # it starts with a quoted header: nothing new above it
    first = parsed.replies[0]
    normalised = parsed.text
    if first.signatures:
        position = normalised.find(first.signatures, normalised.find(first.content))
    elif len(parsed.replies) > 1:
        position = normalised.find(parsed.replies[1].headers)
    else:
        return None
    if position < 0:
        return None
    lines_before = sum(1 for line in normalised[:position].split("\n") if line.strip())
    return _after_lines(text, lines_before)


def _after_lines(text: str, count: int) -> int:
    """The offset of the first non-empty line after `count` non-empty lines."""
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            if count == 0:
                return offset
            count -= 1
        offset += len(line)
    return len(text)


def _trailing_quote(text: str) -> int | None:
    """Where a final block of "> " lines starts, with the attribution line above it."""
    lines = text.splitlines(keepends=True)
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and (_QUOTED_LINE.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    if start == end:
        return None
    while start < end and not lines[start].strip():
        start += 1
    if start and lines[start - 1].rstrip().endswith(":"):
        start -= 1  # "Anna wrote:" in whatever language
    return sum(len(line) for line in lines[:start])


# Where quoted history starts in the HTML of common mail clients.
_HTML_QUOTE = re.compile(
    r"<div[^>]*\bclass\s*=\s*[\"']?[^\"'>]*\b(?:gmail_quote|gmail_signature|yahoo_quoted"
    r"|moz-cite-prefix|moz-signature|protonmail_quote|zmail_extra|x_gmail_quote)\b"
    r"|<div[^>]*\bid\s*=\s*[\"']?(?:divRplyFwdMsg|appendonsend|Signature|x_divRplyFwdMsg)\b"
    r"|<blockquote[^>]*\btype\s*=\s*[\"']?cite"
    r"|<hr[^>]*\bid\s*=\s*[\"']?stopSpelling"
    r"|<div[^>]*style\s*=\s*[\"'][^\"']*border-top\s*:\s*solid\s+#(?:E1E1E1|B5C4DF)"
    r"|-{5}\s*Original Message\s*-{5}",
    re.IGNORECASE,
)
_VISIBLE = re.compile(r"<(style|script|head)\b.*?</\1\s*>|<[^>]+>|&nbsp;|&#160;", re.I | re.S)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)

SUMMARY = "Show quoted text"


def fold_html(html: str) -> str:
    """The HTML with its quoted history wrapped in a closed <details> element.

    Run before sanitising: the markers are classes and ids, which the sanitiser drops.
    <details> works without script, so it stays expandable in the sandboxed frame.
    Unchanged when no marker is found or nothing visible would be left above it.
    """
    found = _HTML_QUOTE.search(html)
    if found is None:
        return html
    before = html[: found.start()]
    if not _VISIBLE.sub("", before).strip() and "<img" not in before.lower():
        return html
    end = _BODY_END.search(html, found.start())
    stop = end.start() if end else len(html)
    return (
        f'{before}<details class="quoted"><summary>{SUMMARY}</summary>'
        f"{html[found.start() : stop]}</details>{html[stop:]}"
    )
