"""Showing search results: highlighted fragments as escaped HTML."""

from collections.abc import Iterable

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from postroom.mail.search import Fragment

register = template.Library()


@register.filter
def highlighted(fragments: Iterable[Fragment]) -> SafeString:
    """The fragments as HTML, matches in <mark>; every piece of text is escaped.

    A filter rather than a loop in the template: fifty results hold over a thousand
    fragments, and Django's template loop took 40% of the page's time.
    """
    return format_html_join(
        "",
        "{}",
        ((format_html("<mark>{}</mark>", f.text) if f.hit else f.text,) for f in fragments),
    )
