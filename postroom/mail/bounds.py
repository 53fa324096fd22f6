"""Bounds on the work one email can cause, checked before the work starts.

The sanitiser (nh3, over html5ever) is fast on ordinary mail but quadratic on some
shapes a stranger can send in a small email: each tag walks the stack of open elements
(100,000 nested <div>s, 1.1 MB, take 26 s to sanitise and 100 s to strip to text) and
each attribute is checked against those before it (100,000 attributes: 11 s). Nothing
here parses HTML: a linear scan of the tags tells such a body from real mail, and the
body is then shown as text, by `visible_text`, which is linear whatever its input.
"""

import html as html_module
import re

# Characters of a body kept in the database; the raw message holds the rest, shown by
# "Show all" and in the original. Bounds every later step's input.
STORED_BODY_CHARS = 1_000_000
# Characters of a plain-text body rendered into a page (a 30 MB text stays a small page).
DISPLAY_TEXT_CHARS = 100_000
# HTML past these bounds is shown as text: html5ever's cost at the bounds is a few ms.
MAX_HTML_DEPTH = 1_000
MAX_HTML_ELEMENTS = 100_000
MAX_HTML_ATTRIBUTES = 1_000  # on one element

# A tag as html5ever reads one: from "<" and a letter to the next ">" (or the end: a
# body cut short may end inside one), whatever "<" it holds. `>?` never fails, so a
# match always consumes its span and the scan stays linear on any input.
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9:-]*)([^>]*)>?")
# No end tag, so they never nest.
_VOID = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "keygen",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
    ]
)
# Closed implicitly by their next sibling: counting them would take a page of
# unclosed <p> or <td> for a deep tree, which html5ever never builds from it.
_IMPLIED_END = frozenset(
    [
        "p",
        "li",
        "dt",
        "dd",
        "tr",
        "td",
        "th",
        "option",
        "optgroup",
        "thead",
        "tbody",
        "tfoot",
        "colgroup",
        "caption",
        "rb",
        "rt",
        "rtc",
        "rp",
    ]
)


def html_too_complex(markup: str) -> str | None:
    """Why `markup` must not reach an HTML parser, or None when it may."""
    elements = depth = deepest = 0
    for match in _TAG.finditer(markup):
        closing, name, attributes = match.groups()
        name = name.lower()
        if closing:
            if name not in _VOID and name not in _IMPLIED_END:
                depth = max(depth - 1, 0)
            continue
        elements += 1
        if elements > MAX_HTML_ELEMENTS:
            return f"more than {MAX_HTML_ELEMENTS:,} elements"
        if attributes.count("=") > MAX_HTML_ATTRIBUTES:
            return f"an element with more than {MAX_HTML_ATTRIBUTES:,} attributes"
        if name in _VOID or name in _IMPLIED_END or attributes.rstrip().endswith("/"):
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
            if deepest > MAX_HTML_DEPTH:
                return f"elements nested more than {MAX_HTML_DEPTH:,} deep"
    return None


_HIDDEN_START = re.compile(r"<!--|<(style|script|head|title)\b[^<>]*>", re.I)
_BREAK = re.compile(r"<(?:br|/p|/div|/tr|/h[1-6]|/li)\b[^<>]*>", re.I)
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n\s*\n\s*(?:\n\s*)+")


def visible_text(markup: str) -> str:
    """The text a reader sees in `markup`, in one pass whatever its shape: line breaks
    where blocks end; comments and hidden blocks (style, script, head) dropped with
    their content, up to their end or, unclosed, to the end of the markup."""
    pieces = []
    position = 0
    lowered = markup.lower()
    while start := _HIDDEN_START.search(markup, position):
        pieces.append(markup[position : start.start()])
        name = start.group(1)
        end_mark = f"</{name.lower()}" if name else "-->"
        end = lowered.find(end_mark, start.end())
        if end < 0:
            position = len(markup)
            break
        position = end if name else end + len(end_mark)
    pieces.append(markup[position:])
    text = _BREAK.sub("\n", "".join(pieces))
    text = _SPACES.sub(" ", html_module.unescape(_TAG.sub(" ", text)))
    return _BLANK_LINES.sub("\n\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


def cut(body: str, limit: int) -> tuple[str, bool]:
    """`body`'s first `limit` characters, ended at a line break where one is near; and
    whether anything was cut."""
    if len(body) <= limit:
        return body, False
    head = body[:limit]
    line_end = head.rfind("\n", limit - 2000)
    return (head[: line_end + 1] if line_end > 0 else head), True
