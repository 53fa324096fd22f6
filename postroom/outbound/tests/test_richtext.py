"""The sender's HTML cleaned, and its text alternative (pure functions)."""

from postroom.outbound import placeholders, richtext


def test_clean_html_keeps_formatting_and_drops_what_could_run_or_track():
    dirty = (
        '<div onclick="x()">Hi <strong>Anna</strong> <a href="javascript:evil()">x</a>'
        '<a href="https://acme.test">site</a><img src="https://t.test/p.gif">'
        "<style>p{}</style><script>alert(1)</script><iframe></iframe></div>"
    )
    assert richtext.clean_html(dirty) == (
        '<div>Hi <strong>Anna</strong> <a rel="noopener noreferrer">x</a>'
        '<a href="https://acme.test" rel="noopener noreferrer">site</a></div>'
    )


def test_html_to_text_writes_paragraphs_lists_quotes_and_links():
    html = (
        "<div>Dear Anna,<br>thanks.</div><div><br></div>"
        "<ol><li>first</li><li>second</li></ol>"
        '<div>Mail <a href="mailto:a@b.test">a@b.test</a> or <a href="https://x.test">here</a></div>'
        "<blockquote><div>On Monday, Anna wrote:</div><div>What does it cost?</div></blockquote>"
        "<pre>  code\n  kept</pre>"
    )
    assert richtext.html_to_text(html) == (
        "Dear Anna,\nthanks.\n\n1. first\n2. second\nMail a@b.test or here (https://x.test)\n"
        "> On Monday, Anna wrote:\n> What does it cost?\n  code\n  kept\n"
    )


def test_text_to_html_turns_quote_lines_into_a_blockquote():
    assert richtext.text_to_html("Hi <you>\n> quoted\n>> deeper\nend") == (
        "<div>Hi &lt;you&gt;</div><blockquote>quoted<blockquote>deeper</blockquote>"
        "</blockquote><div>end</div>"
    )


def test_placeholders_are_filled_in_escaped_and_quotes_are_left_alone():
    values = {"contact_name": "Anna & Co", "deal_title": "", "mailbox_name": "Sales"}
    html = "<div>Dear {contact_name}, {deal_title}</div><blockquote>{id} stays</blockquote>"
    assert placeholders.render(html, values, is_html=True) == (
        "<div>Dear Anna &amp; Co, </div><blockquote>{id} stays</blockquote>"
    )
    assert placeholders.render("Hi {contact_name}\n> {x}", values, is_html=False) == (
        "Hi Anna & Co\n> {x}"
    )


def test_an_unknown_placeholder_is_an_error_naming_it():
    assert placeholders.unknown_in("<div>{contact_name} {dael_title} {x}</div>") == [
        "dael_title",
        "x",
    ]
    # JSON or CSS in a message is not a placeholder.
    assert placeholders.unknown_in('{"a": 1} {  } {1}') == []


def test_braces_of_the_subject_answered_are_kept_as_written():
    literal = placeholders.found_in("Order {A7}")
    subject = "Re: Order {A7} for {contact_name}"
    values = {"contact_name": "Anna"}
    rendered = placeholders.render(subject, values, is_html=False, literal=literal)
    assert rendered == "Re: Order {A7} for Anna"
