import pytest

from postroom.lib.secretbox import InvalidToken, decrypt, encrypt


def test_it_round_trips_a_secret():
    token = encrypt("key-one", "hunter2")
    assert token != "hunter2"
    assert decrypt("key-one", token) == "hunter2"


def test_it_refuses_a_token_made_with_another_key():
    with pytest.raises(InvalidToken):
        decrypt("key-two", encrypt("key-one", "hunter2"))


def test_it_never_produces_the_same_token_twice():
    assert encrypt("k", "same") != encrypt("k", "same")
