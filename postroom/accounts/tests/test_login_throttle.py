"""Failed logins are throttled per account and address, and per address, for the app's
login and the admin's; a lock-out says when to try again, and lifts after the cool-off."""

import logging
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from postroom.testing.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Dozens of logins a test: a cheap hasher, or each one costs a second of PBKDF2.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def _age_failures(minutes):
    """Move every recorded failure `minutes` into the past: the clock, not a sleep."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


def test_the_fifth_wrong_password_locks_the_account_out_saying_when(client):
    UserFactory(username="alice")
    for _ in range(4):
        response = _login(client, "alice", "wrong")
        assert response.status_code == 200
        assert b"password didn't match" in response.content

    response = _login(client, "alice", "wrong")

    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed logins for this account; try again after " in text
    assert "(in 15 minutes)" in text
    assert "Log in to Postroom" in text  # the login page itself, in its own layout


def test_a_locked_out_account_is_refused_even_the_right_password(client):
    UserFactory(username="alice")
    for _ in range(5):
        _login(client, "alice", "wrong")

    response = _login(client, "alice", PASSWORD)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_the_lock_out_lifts_after_the_cool_off(client):
    UserFactory(username="alice")
    for _ in range(5):
        _login(client, "alice", "wrong")
    _age_failures(14)
    assert _login(client, "alice", PASSWORD).status_code == 429

    _age_failures(2)
    response = _login(client, "alice", PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"]


def test_tries_while_locked_out_do_not_push_the_time_further(client):
    UserFactory(username="alice")
    for _ in range(5):
        _login(client, "alice", "wrong")
    _age_failures(10)
    assert _login(client, "alice", "wrong").status_code == 429

    response = _login(client, "alice", "wrong")

    assert "(in 5 minutes)" in response.content.decode()


def test_an_account_locked_from_one_address_can_log_in_from_another():
    UserFactory(username="alice")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(5):
        _login(attacker, "alice", "wrong")

    response = _login(Client(REMOTE_ADDR="192.0.2.20"), "alice", PASSWORD)

    assert response.status_code == 302


def test_twenty_failures_from_one_address_lock_out_every_account(client):
    UserFactory(username="bob")
    for n in range(20):  # 4 per account: under the account limit
        _login(client, f"user{n % 5}", "wrong")

    response = _login(client, "bob", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins from your network address" in response.content.decode()
    assert _login(Client(REMOTE_ADDR="192.0.2.20"), "bob", PASSWORD).status_code == 302


def test_logging_in_to_ones_own_account_does_not_reset_the_count_of_another():
    UserFactory(username="alice")
    UserFactory(username="mallory")
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for _ in range(4):
        _login(attacker, "alice", "wrong")
    assert _login(attacker, "mallory", PASSWORD).status_code == 302

    response = _login(Client(REMOTE_ADDR="203.0.113.9"), "alice", "wrong")

    assert response.status_code == 429


def test_a_successful_login_forgets_the_accounts_own_failures(client):
    UserFactory(username="alice")
    for _ in range(4):
        _login(client, "alice", "wrong")
    assert _login(client, "alice", PASSWORD).status_code == 302
    client.post(reverse("logout"))

    assert _login(client, "alice", "wrong").status_code == 200


def test_a_lock_out_is_logged_with_account_address_and_time(client, caplog):
    UserFactory(username="alice")
    with caplog.at_level(logging.WARNING):
        for _ in range(5):
            _login(client, "alice", "wrong")

    [record] = [r for r in caplog.records if "login locked out" in r.getMessage()]
    assert "'alice' from 127.0.0.1 until" in record.getMessage()


def test_the_admin_login_is_the_throttled_login(client):
    UserFactory(username="root", is_staff=True, is_superuser=True)

    response = client.get("/admin/login/?next=/admin/")

    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next=%2Fadmin%2F"
    # A POST to the admin's own form logs nobody in.
    client.post("/admin/login/", {"username": "root", "password": PASSWORD})
    assert "_auth_user_id" not in client.session
    for _ in range(5):
        client.post(f"{reverse('login')}?next=/admin/", {"username": "root", "password": "x"})
    assert _login(client, "root", PASSWORD).status_code == 429


def test_failures_from_two_browsers_add_up_and_the_older_ones_lift_the_lock_first():
    UserFactory(username="alice")
    firefox = Client(HTTP_USER_AGENT="Firefox")
    for _ in range(3):
        _login(firefox, "alice", "wrong")
    _age_failures(10)
    chrome = Client(HTTP_USER_AGENT="Chrome")
    _login(chrome, "alice", "wrong")

    response = _login(chrome, "alice", "wrong")

    # Locked by 3 + 2 failures; it lifts when the 3 older ones are 15 minutes old.
    assert response.status_code == 429
    assert "(in 5 minutes)" in response.content.decode()
