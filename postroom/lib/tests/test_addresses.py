from postroom.lib.addresses import normalize_address, split_addresses


def test_it_lowercases_and_strips_the_display_name():
    assert normalize_address(" Anna Smith <Anna.Smith@Example.TEST> ") == "anna.smith@example.test"


def test_it_splits_several_header_values():
    pairs = split_addresses(['"Doe, John" <john@a.test>, mary@b.test', "undisclosed-recipients:;"])
    assert pairs == [("Doe, John", "john@a.test"), ("", "mary@b.test")]
