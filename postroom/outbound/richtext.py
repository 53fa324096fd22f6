"""The HTML that senders write: cleaned to a small safe subset, and its text alternative.

Pure functions (no ORM). The editor in the browser (Trix) produces divs, line breaks,
bold, italic, strike, links, lists, quotes, code blocks and a heading; whatever else
arrives (pasted HTML, a crafted POST) is stripped here, on the server, before it is
stored in a draft or sent.
"""

import html
import re
from html.parser import HTMLParser

import nh3

# What a sent email may contain: the editor's output plus what quotes and signatures use.
ALLOWED_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "hr", "i",
    "li", "ol", "p", "pre", "s", "span", "strike", "strong", "u", "ul",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

_BLOCKS = {"div", "p", "h1", "h2", "h3", "pre", "blockquote", "ul", "ol", "li", "hr"}


def clean_html(value: str) -> str:
    """The sender's HTML reduced to ALLOWED_TAGS: no scripts, styles, images or events."""
    return nh3.clean(
        value or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer",
        strip_comments=True,
        clean_content_tags={"script", "style"},
    ).strip()


class _TextWriter(HTMLParser):
    """Walks the cleaned HTML and writes the text a plain-text reader expects."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = [""]
        self.quote = 0
        self.lists: list[list] = []  # per open list: [ordered, counter]
        self.pre = 0
        self.href: list[str] = []
        self.link_text: list[str] = []

    def _newline(self) -> None:
        self.lines.append("")

    def _block(self) -> None:
        if self.lines[-1].strip(" >"):
            self._newline()

    def _prefix(self) -> str:
        return "> " * self.quote

    def _write(self, text: str) -> None:
        if not self.lines[-1]:
            self.lines[-1] = self._prefix()
        self.lines[-1] += text

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "br":
            self._write("")
            self._newline()
        elif tag == "blockquote":
            self._block()
            self.quote += 1
        elif tag in ("ul", "ol"):
            self._block()
            self.lists.append([tag == "ol", 0])
        elif tag == "li":
            self._block()
            if self.lists:
                self.lists[-1][1] += 1
                ordered, n = self.lists[-1]
                indent = "  " * (len(self.lists) - 1)
                self._write(f"{indent}{n}. " if ordered else f"{indent}- ")
        elif tag == "hr":
            self._block()
            self._write("----")
            self._newline()
        elif tag in _BLOCKS:
            self._block()
            if tag == "pre":
                self.pre += 1
        elif tag == "a":
            self.href.append(dict(attrs).get("href") or "")
            self.link_text.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "blockquote":
            self._block()
            self.quote = max(0, self.quote - 1)
        elif tag in ("ul", "ol"):
            self._block()
            if self.lists:
                self.lists.pop()
        elif tag in _BLOCKS:
            if tag == "pre":
                self.pre = max(0, self.pre - 1)
            self._block()
        elif tag == "a" and self.href:
            href, text = self.href.pop(), self.link_text.pop()
            # "text (url)" unless the text is the address already.
            target = href.removeprefix("mailto:")
            if href and target.strip() != text.strip():
                self._write(f" ({target})")

    def handle_data(self, data: str) -> None:
        if self.link_text:
            self.link_text[-1] += data
        if self.pre:
            parts = data.split("\n")
            for i, part in enumerate(parts):
                if i:
                    self._newline()
                self._write(part)
            return
        text = re.sub(r"\s+", " ", data)
        if not self.lines[-1].strip(" >") and not self.lines[-1].endswith("- "):
            text = text.lstrip()
        if text:
            self._write(text)

    def text(self) -> str:
        lines = [line.rstrip() for line in self.lines]
        joined = "\n".join(lines)
        return re.sub(r"\n{3,}", "\n\n", joined).strip("\n") + "\n"


def html_to_text(value: str) -> str:
    """The text/plain alternative of the sender's HTML: paragraphs, '> ' quotes, '- ' and
    '1. ' lists, links as 'text (url)'."""
    writer = _TextWriter()
    writer.feed(value or "")
    writer.close()
    return writer.text()


def text_to_html(text: str) -> str:
    """Plain text (a quote made by compose, an old draft) as editor HTML: one div per
    line outside quotes; '> ' lines as a blockquote whose lines are joined by <br>.

    Inside a blockquote the editor (Trix) keeps one block: divs there are run together
    into one line (a signature's "Anna Client", "ACME GmbH" read "Anna ClientACME
    GmbH"), while <br> is a line break it keeps, so a quote stays as written."""
    out: list[str] = []
    depth = 0
    open_lines = False  # text written in the current blockquote since it opened
    for line in (text or "").replace("\r\n", "\n").split("\n"):
        marks = re.match(r"^(?:> ?)*", line).group(0)
        level = marks.count(">")
        content = line[len(marks) :] if level else line
        if level != depth:
            while depth < level:
                out.append("<blockquote>")
                depth += 1
            while depth > level:
                out.append("</blockquote>")
                depth -= 1
            open_lines = False
        if depth == 0:
            out.append(f"<div>{html.escape(content) if content else '<br>'}</div>")
            continue
        if open_lines:
            out.append("<br>")
        # An empty quoted line is a line break of its own: <br><br> is a blank line.
        out.append(html.escape(content))
        open_lines = True
    out.extend("</blockquote>" for _ in range(depth))
    return "".join(out)


def document(fragment: str) -> str:
    """The HTML part of an email around the sender's cleaned fragment."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>\n'
        f'<body><div style="font-family: sans-serif">{fragment}</div></body></html>\n'
    )


def split_quotes(value: str) -> list[tuple[str, bool]]:
    """The HTML cut into (segment, inside a blockquote): the sender's own words versus
    quoted mail, so that placeholders are looked for only in the former."""
    parts: list[tuple[str, bool]] = []
    depth, start = 0, 0
    for tag in re.finditer(r"<(/?)blockquote\b[^>]*>", value, re.IGNORECASE):
        closing = bool(tag.group(1))
        if not closing:
            if depth == 0:
                parts.append((value[start : tag.start()], False))
                start = tag.start()
            depth += 1
        elif depth:
            depth -= 1
            if depth == 0:
                parts.append((value[start : tag.end()], True))
                start = tag.end()
    parts.append((value[start:], depth > 0))
    return [part for part in parts if part[0]]
