from postroom.lib.text import preview, tidy_lines


def test_tidy_lines_keeps_paragraphs_and_signature_lines():
    text = (
        "Hello  team,\r\n\r\n\r\n  Could you\tsend a quote?\nDelivery to Berlin.\n\n"
        "Best regards,\nAnna Client\nACME GmbH\n\n"
    )
    assert tidy_lines(text) == (
        "Hello team,\n\nCould you send a quote?\nDelivery to Berlin.\n\n"
        "Best regards,\nAnna Client\nACME GmbH"
    )


def test_tidy_lines_of_nothing_is_empty():
    assert tidy_lines("") == ""
    assert tidy_lines(" \n\n \n") == ""


def test_preview_stops_at_its_lines_or_characters_and_says_so():
    text = "one\ntwo\nthree\nfour"
    assert preview(text, 100, 2) == "one\ntwo…"
    assert preview(text, 100, 10) == "one\ntwo\nthree\nfour"
    assert preview("a few words that go on and on", 12, 5) == "a few words…"
