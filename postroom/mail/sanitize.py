"""Making a stranger's email safe to show: pure functions, no ORM.

HTML goes through nh3 (the Python binding of the Rust `ammonia` sanitiser) with an
allow-list of tags, attributes, URL schemes and CSS properties. What survives cannot run
code or submit anything; the only thing that can still reach the network is an
``<img src>``, which is dropped and counted unless the reader asked for remote images
(a tracking pixel tells the sender when and where their mail was read). The result is
still served in a sandboxed iframe under a strict Content-Security-Policy by the web
app: the sanitiser is the first wall, not the only one.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import nh3
from django.utils.html import urlize

from .bounds import html_too_complex

# Formatting tags only. No script/style/iframe/object/embed/form/input/base/link/meta/svg,
# and no map/area, whose hrefs bypass the link handling below.
ALLOWED_TAGS: frozenset[str] = frozenset(
    (set(nh3.ALLOWED_TAGS) - {"map", "area"}) | {"font", "tfoot", "center"}
)

# Presentational attributes that HTML mail still uses for layout. No event handlers, no
# id/name/class (a <style> block never survives, so classes would style nothing), no
# `background`/`srcset`/`poster`, which would fetch remote images past the counter.
_GENERIC_ATTRIBUTES = {"style", "title", "dir", "lang", "align", "valign", "bgcolor"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "*": _GENERIC_ATTRIBUTES,
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height", "align", "border"},
    "table": {"width", "border", "cellpadding", "cellspacing", "align", "summary"},
    "td": {"width", "height", "colspan", "rowspan", "align", "valign", "nowrap"},
    "th": {"width", "height", "colspan", "rowspan", "align", "valign", "nowrap", "scope"},
    "font": {"color", "face", "size"},
}

# Schemes a link or image may use. ammonia drops other schemes before the attribute filter
# runs, so `cid:` must be listed for the filter to see it; the filter then rewrites an
# <img src="cid:..."> to the Postroom URL of that part and drops cid: anywhere else.
URL_SCHEMES = frozenset({"http", "https", "mailto", "cid"})

# Elements removed together with their content, not just unwrapped.
_DROP_WITH_CONTENT = {"script", "style", "title", "noscript", "template", "textarea", "select"}

# CSS properties that only change how text and boxes look. Left out on purpose:
# position/z-index (overlays that imitate Postroom), background-image, list-style-image,
# border-image, cursor, content, behavior, -moz-binding, filter (fetches or code).
ALLOWED_CSS_PROPERTIES: frozenset[str] = frozenset(
    {
        "color", "background", "background-color",
        "font", "font-family", "font-size", "font-style", "font-weight", "font-variant",
        "text-align", "text-decoration", "text-indent", "text-transform",
        "line-height", "letter-spacing", "word-spacing", "white-space", "word-break",
        "overflow-wrap", "vertical-align", "direction",
        "margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
        "padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
        "border", "border-top", "border-right", "border-bottom", "border-left",
        "border-color", "border-style", "border-width", "border-radius",
        "border-collapse", "border-spacing",
        "width", "height", "max-width", "min-width", "max-height", "min-height",
        "display", "float", "clear", "list-style-type", "table-layout",
    }
)  # fmt: skip

# Inside a declaration these can fetch, run code or hide either from a naive check:
# url()/image-set() fetch, expression() ran script in old IE, a backslash is a CSS escape
# (`u\72 l(`), a comment can split a keyword.
_CSS_DANGER = re.compile(r"url\s*\(|image-set|expression|javascript:|@import|\\|/\*", re.I)

# The WHATWG URL parser drops ASCII tab and newlines anywhere and trims C0 controls and
# spaces, so "ht\ttp://x" is http://x to a browser (and to ammonia): look at what they see.
_URL_IGNORED = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))

# Raster formats a browser shows in <img>. No image/svg+xml: SVG is a document that can
# carry script and links, and it is opened as one when someone visits the part's URL.
INLINE_IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "image/avif"}
)


class HtmlTooComplex(ValueError):
    """HTML whose shape would keep the sanitiser busy for minutes (mail.bounds): shown
    as text instead."""


@dataclass(frozen=True)
class SanitizedHtml:
    html: str
    # Remote <img> dropped because the reader has not allowed remote images.
    blocked_remote: int = 0


def _normalise_url(value: str) -> str:
    return _URL_IGNORED.sub("", value).strip(_C0_AND_SPACE)


def _is_remote(url: str) -> bool:
    lowered = url.lower()
    return lowered.startswith(("http:", "https:", "//"))


def _clean_style(value: str) -> str | None:
    """Keep the declarations whose property is allowed and whose value cannot fetch or run."""
    kept = []
    for declaration in value.split(";"):
        name, sep, rest = declaration.partition(":")
        name = name.strip().lower()
        if not sep or name not in ALLOWED_CSS_PROPERTIES or _CSS_DANGER.search(rest):
            continue
        kept.append(f"{name}:{rest.strip()}")
    return ";".join(kept) or None


def sanitize_html(
    html: str,
    *,
    allow_remote_images: bool,
    cid_url: Callable[[str], str | None] | None = None,
) -> SanitizedHtml:
    """HTML that cannot run code, submit forms or (unless allowed) load remote images.

    Raises HtmlTooComplex for HTML past mail.bounds' limits.
    `cid_url` maps a Content-ID (without `cid:` or angle brackets) to the URL that serves
    that inline part of the message, or None for one that is not among its parts; a
    reference it does not resolve (or every one, without it) is dropped. Links get
    target=_blank and rel="noopener noreferrer".
    """
    if reason := html_too_complex(html):
        raise HtmlTooComplex(reason)
    blocked = 0
    # URLs this call produced for cid: images: the only relative URLs let through.
    own_urls: set[str] = set()

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        nonlocal blocked
        if attribute == "style":
            return _clean_style(value)
        if attribute not in ("src", "href"):
            return value
        url = _normalise_url(value)
        if url.lower().startswith("cid:"):
            if tag != "img" or cid_url is None or not url[4:]:
                return None
            rewritten = cid_url(unquote(url[4:]).strip("<>"))
            if rewritten is None:
                return None
            own_urls.add(rewritten)
            return rewritten
        if tag == "img" and _is_remote(url):
            if not allow_remote_images:
                blocked += 1
                return None
            return "https:" + url if url.startswith("//") else url
        return url

    def relative_url(url: str) -> str | None:
        # Relative URLs would resolve against Postroom itself (a GET on any of its pages);
        # only our own cid: rewrites and in-message fragment links may stay.
        return url if url in own_urls or url.startswith("#") else None

    cleaned = nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=_DROP_WITH_CONTENT,
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=attribute_filter,
        url_schemes=set(URL_SCHEMES),
        url_relative=relative_url,
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
        filter_style_properties=set(ALLOWED_CSS_PROPERTIES),
        strip_comments=True,
    )
    return SanitizedHtml(html=cleaned, blocked_remote=blocked)


def text_to_html(text: str) -> str:
    """Plain text as HTML: escaped, with URLs and addresses made into safe links.

    Line breaks are kept by the caller's `white-space: pre-wrap`, not by <br>, so that
    indentation and quoted replies look as the sender typed them.
    """
    linked = urlize(text, autoescape=True)
    # Through the same cleaner as HTML mail, so links open in a new tab without a referrer.
    return nh3.clean(
        linked,
        tags={"a"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https", "mailto"},
        url_relative="deny",
        link_rel="noopener noreferrer",
        set_tag_attribute_values={"a": {"target": "_blank"}},
    )
