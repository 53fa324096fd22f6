"""The tracked copy of an email's HTML: links through Postroom, an image at the end.

Pure functions on strings. Only http(s) links are rewritten; mailto:, tel:, anchors
(#...) and anything else stay as they are.
"""

import html
import re
from collections.abc import Callable

_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


def _trackable(url: str) -> bool:
    return url.strip().lower().startswith(("http://", "https://"))


def links_of(document: str) -> list[str]:
    """The http(s) links of the HTML, unescaped, each once, in order of appearance."""
    found = []
    for match in _HREF.finditer(document):
        url = html.unescape(match.group(2) if match.group(2) is not None else match.group(3))
        url = url.strip()
        if _trackable(url) and url not in found:
            found.append(url)
    return found


def rewrite(document: str, links: list[str], link_url: Callable[[int], str], image_url: str) -> str:
    """The HTML with each link in `links` replaced by link_url(its index), and the
    tracking image before </body> (or at the end)."""
    index = {url: i for i, url in enumerate(links)}

    def replace(match: re.Match) -> str:
        url = html.unescape(match.group(2) if match.group(2) is not None else match.group(3))
        i = index.get(url.strip())
        if i is None:
            return match.group(0)
        return f'{match.group(1)}"{html.escape(link_url(i), quote=True)}"'

    rewritten = _HREF.sub(replace, document)
    image = (
        f'<img src="{html.escape(image_url, quote=True)}" width="1" height="1" alt="" '
        'style="display:block;width:1px;height:1px;border:0">'
    )
    parts = _BODY_END.split(rewritten, maxsplit=1)
    if len(parts) == 2:
        return f"{parts[0]}{image}</body>{parts[1]}"
    return rewritten + image
