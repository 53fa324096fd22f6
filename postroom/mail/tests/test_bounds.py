"""Bounds on one email's work: which HTML is too complex for the sanitiser, and the
linear text extraction that shows it instead. Pure functions."""

import pytest

from postroom.mail.bounds import (
    MAX_HTML_ATTRIBUTES,
    MAX_HTML_DEPTH,
    cut,
    html_too_complex,
    visible_text,
)
from postroom.mail.sanitize import HtmlTooComplex, sanitize_html

NEWSLETTER = (
    "<html><head><style>td{color:red}</style></head><body>"
    + "<table><tr><td><div><p>Offer <b>40 chairs</b><br>and <i>4 tables</i></p></div>"
    "</td></tr></table>"
    * 300
    + "<p>unclosed<p>paragraphs<li>and items<td>and cells" * 2000
    + "</body></html>"
)


def test_ordinary_newsletter_html_is_not_too_complex():
    assert html_too_complex(NEWSLETTER) is None


def test_html_nested_deeper_than_the_bound_is_too_complex():
    deep = "<div>" * (MAX_HTML_DEPTH + 1) + "x" + "</div>" * (MAX_HTML_DEPTH + 1)
    assert html_too_complex(deep) == "elements nested more than 1,000 deep"
    assert html_too_complex("<div>x</div>" * (MAX_HTML_DEPTH * 5)) is None  # siblings


def test_an_element_with_too_many_attributes_is_too_complex():
    attributes = " ".join(f'a{i}="1"' for i in range(MAX_HTML_ATTRIBUTES + 1))
    assert "attributes" in html_too_complex(f"<p {attributes}>x</p>")


def test_unclosed_implied_end_tags_and_void_elements_do_not_count_as_depth():
    assert html_too_complex("<p>line<br><img src=x>" * (MAX_HTML_DEPTH * 3)) is None


def test_sanitize_refuses_too_complex_html_instead_of_running_for_minutes():
    with pytest.raises(HtmlTooComplex, match="nested"):
        sanitize_html("<div>" * 100_000, allow_remote_images=False)


def test_visible_text_keeps_lines_and_drops_hidden_blocks():
    markup = (
        "<html><head><title>T</title><style>p{}</style></head><body><p>Hello &amp; bye</p>"
        "<div>two<br>three</div><script>alert(1)</script><!-- note --></body>"
    )
    assert visible_text(markup) == "Hello & bye\ntwo\nthree"


@pytest.mark.parametrize(
    "markup",
    ["<" * 200_000, "<style" * 100_000, "<div>" * 100_000 + "deep inside", "<!--" * 100_000],
)
def test_visible_text_reads_hostile_markup_to_the_end(markup):
    text = visible_text(markup)
    assert "<div>" not in text and ("deep inside" in text or "deep" not in markup)


def test_cut_ends_at_a_line_break_and_says_it_cut():
    body = "line of text\n" * 1000
    kept, was_cut = cut(body, 100)
    assert was_cut and kept.endswith("\n") and len(kept) <= 100
    assert cut("short", 100) == ("short", False)
