"""Folding quoted history and signatures away (postroom.mail.quotes)."""

import pytest

from postroom.mail.quotes import SUMMARY, fold_html, split_reply


@pytest.mark.parametrize(
    ("text", "reply", "folded_starts"),
    [
        (
            "Thanks, that works.\n\nOn Mon, 3 Mar 2025 at 10:00, Bob <bob@acme.test> wrote:\n"
            "> Hello Anna,\n> the price is 100.\n",
            "Thanks, that works.\n",
            "On Mon, 3 Mar 2025",
        ),
        (
            "Danke!\n\nAm 03.03.2025 um 10:00 schrieb Bob <bob@acme.test>:\n> Hallo\n",
            "Danke!\n",
            "Am 03.03.2025",
        ),
        (
            "Yes please.\n\n    indented stays\n\n-----Original Message-----\nFrom: Bob\n"
            "Sent: Monday\nTo: Anna\nSubject: Offer\n\nold text\n",
            "Yes please.\n\n    indented stays\n",
            "-----Original Message-----",
        ),
        (
            "Да, согласны.\n\n3 марта 2025 г., в 10:00, Боб <bob@acme.test> написал(а):\n"
            "> Привет\n",
            "Да, согласны.\n",
            "3 марта 2025 г.",
        ),
        ("Sure.\n\n> earlier text\n> more\n", "Sure.\n", "> earlier text"),
        (
            "See you then.\n\nBest regards,\nAnna Client\nACME Ltd\n",
            "See you then.\n",
            "Best regards,",
        ),
    ],
)
def test_it_folds_quoted_history_and_signatures(text, reply, folded_starts):
    shown, folded = split_reply(text)
    assert shown == reply
    assert folded.startswith(folded_starts)
    # Nothing is lost: what is shown and what is folded are the text, in order.
    assert text.startswith(shown.rstrip())
    assert text.endswith(folded)


@pytest.mark.parametrize(
    "text",
    [
        "Only new text.\n- item one\n- item two\n",
        "> quoted first\nmy inline answer\n> more quoted\nanswer two\n",
        "---------- Forwarded message ----------\nFrom: X\nDate: Y\n\nbody\n",
        "",
    ],
)
def test_it_folds_nothing_when_nothing_would_be_left_or_nothing_is_quoted(text):
    assert split_reply(text) == (text, "")


def test_it_folds_the_quote_of_html_mail_into_details():
    html = (
        '<html><body><div dir="ltr">Thanks!</div><div class="gmail_quote">'
        "<div>On Mon Bob wrote:</div><blockquote>old</blockquote></div></body></html>"
    )
    folded = fold_html(html)
    assert folded.startswith('<html><body><div dir="ltr">Thanks!</div><details class="quoted">')
    assert f'<summary>{SUMMARY}</summary><div class="gmail_quote">' in folded
    assert folded.endswith("</div></details></body></html>")


@pytest.mark.parametrize(
    "marker",
    [
        '<blockquote type="cite">',
        '<div id="divRplyFwdMsg">',
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm">',
        '<div class="moz-cite-prefix">',
        '<hr id="stopSpelling">',
    ],
)
def test_it_knows_the_quote_markers_of_common_clients(marker):
    assert "<details" in fold_html(f"<p>New text</p>{marker}old</div>")


def test_it_leaves_html_without_new_text_alone():
    html = '<div class="gmail_quote">---------- Forwarded message ---------</div>'
    assert fold_html(html) == html
