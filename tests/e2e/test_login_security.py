"""Issue 18 end to end in Chromium: wrong passwords lock a login out with the time to try
again, and a user sets up an authenticator, then logs in with the password and a code."""

import base64
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from postroom.testing.factories import PASSWORD, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _log_in(page, url, username, password):
    log_in(page, f"{url}/login/", username, password)


def test_wrong_passwords_lock_the_login_out_saying_when_to_try_again(live_server, page):
    UserFactory(username="alice")
    for _ in range(4):
        _log_in(page, live_server.url, "alice", "guess")
        assert "didn't match" in page.locator(".card").inner_text()

    _log_in(page, live_server.url, "alice", "guess")

    alert = page.get_by_role("alert").inner_text()
    assert "Too many failed logins for this account; try again after" in alert
    assert "(in 15 minutes)" in alert
    _log_in(page, live_server.url, "alice", PASSWORD)
    assert "Too many failed logins" in page.get_by_role("alert").inner_text()
    assert page.locator("header.top .who").count() == 0

    # The cool-off passes (the clock of the failures moved, not waited for).
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=16)
        attempt.save(update_fields=["attempt_time"])
    _log_in(page, live_server.url, "alice", PASSWORD)
    assert page.locator("header.top .who").inner_text() == "alice"


def _code(secret_text: str, steps_ahead: int = 0) -> str:
    text = secret_text.replace(" ", "")
    key = base64.b32decode(text + "=" * (-len(text) % 8))
    return f"{totp(key, step=30, t0=0, digits=6, drift=steps_ahead):06d}"


def test_a_user_sets_up_an_authenticator_and_logs_in_with_a_code(live_server, page):
    UserFactory(username="alice")
    _log_in(page, live_server.url, "alice", PASSWORD)
    page.locator("header.top .who").click()
    page.get_by_role("link", name="Two-factor authentication").click()

    assert page.locator(".qr svg.segno").is_visible()
    secret = page.locator(".otp-secret").inner_text()
    page.fill("input[name=code]", _code(secret))
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator(".recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    page.get_by_role("button", name="Log out").click()

    _log_in(page, live_server.url, "alice", PASSWORD)
    page.wait_for_url("**/login/code/")
    page.fill("input[name=code]", "000000")
    page.get_by_role("button", name="Verify").click()
    assert "That code is not right." in page.get_by_role("alert").inner_text()
    assert page.locator("header.top .who").count() == 0
    # A wrong code makes the next one wait a second (django-otp's throttling): the
    # clock of that failure is moved, not waited for.
    TOTPDevice.objects.update(throttling_failure_timestamp=timezone.now() - timedelta(hours=1))
    page.fill("input[name=code]", _code(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()

    assert page.locator("header.top .who").inner_text() == "alice"
