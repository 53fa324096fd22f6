"""A user with an authenticator logs in with the password and then a code: a real TOTP
code computed from the device's secret, never a wrong or reused one, and wrong codes
are throttled like wrong passwords."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from postroom.testing.factories import PASSWORD, UserFactory
from postroom.testing.web import logged_in
from postroom.twofactor import actions
from postroom.twofactor.models import RecoveryCode

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def code_of(device, *, steps_ahead=0):
    """The code the authenticator app shows now (or `steps_ahead` 30-second steps on)."""
    value = totp(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    return f"{value:0{device.digits}d}"


def with_authenticator(user):
    device = actions.pending_device(user)
    codes = actions.do_confirm_device(device, code_of(device))
    device.refresh_from_db()
    return device, codes


def unthrottle(device):
    """Move the last wrong code into the past: the clock, not a sleep."""
    device.refresh_from_db()
    if device.throttling_failure_timestamp:
        device.throttling_failure_timestamp -= timedelta(hours=1)
        device.save(update_fields=["throttling_failure_timestamp"])


@pytest.fixture
def alice():
    return UserFactory(username="alice")


def _password(client, username="alice", next_url=""):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data)


def test_the_login_asks_for_the_code_after_the_password(client, alice):
    device, _ = with_authenticator(alice)

    response = _password(client, next_url="/inbox/")

    assert response.status_code == 302
    assert response.url == reverse("login_code")
    assert "_auth_user_id" not in client.session  # not logged in by the password alone
    assert client.get(reverse("web:inbox")).status_code == 302

    response = client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})

    assert response.status_code == 302
    assert response.url == "/inbox/"
    assert client.session["_auth_user_id"] == str(alice.pk)
    assert client.get(reverse("web:inbox")).status_code == 200


def test_a_user_without_an_authenticator_logs_in_with_the_password(client, alice):
    response = _password(client)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_a_wrong_code_is_refused(client, alice):
    with_authenticator(alice)
    _password(client)

    response = client.post(reverse("login_code"), {"code": "000000"})

    assert response.status_code == 200
    assert "That code is not right." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_after_a_wrong_code_even_the_right_one_waits(client, alice):
    device, _ = with_authenticator(alice)
    _password(client)
    client.post(reverse("login_code"), {"code": "000000"})
    client.post(reverse("login_code"), {"code": "000001"})  # too soon: not even checked

    response = client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})

    assert "Too many wrong codes: wait" in response.content.decode()
    assert "_auth_user_id" not in client.session
    unthrottle(device)
    response = client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_a_code_is_never_accepted_twice(client, alice):
    device, _ = with_authenticator(alice)
    code = code_of(device, steps_ahead=1)
    _password(client)
    assert client.post(reverse("login_code"), {"code": code}).status_code == 302
    client.post(reverse("logout"))

    _password(client)
    response = client.post(reverse("login_code"), {"code": code})

    assert "That code is not right." in response.content.decode()


def test_wrong_codes_count_as_failed_logins_and_lock_out(client, alice):
    device, _ = with_authenticator(alice)
    _password(client)
    for _ in range(4):
        unthrottle(device)
        assert client.post(reverse("login_code"), {"code": "000000"}).status_code == 200
    unthrottle(device)

    response = client.post(reverse("login_code"), {"code": "000000"})

    assert response.status_code == 429
    assert "Too many failed logins for this account; try again after" in response.content.decode()
    # Locked out: the password is refused too, and no code is asked for.
    assert _password(client).status_code == 429


def test_a_recovery_code_logs_in_once(client, alice):
    _, codes = with_authenticator(alice)
    _password(client)

    response = client.post(reverse("login_code"), {"code": codes[0].upper()})

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)
    client.post(reverse("logout"))
    _password(client)
    assert client.post(reverse("login_code"), {"code": codes[0]}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_recovery_codes_are_kept_hashed(alice):
    _, codes = with_authenticator(alice)

    stored = list(RecoveryCode.objects.filter(user=alice).values_list("code_hash", flat=True))

    assert len(stored) == len(codes) == 10
    assert not {c.replace("-", "") for c in codes} & set(stored)
    assert all(len(h) == 64 for h in stored)


def test_the_code_step_expires(client, alice):
    with_authenticator(alice)
    _password(client)
    session = client.session
    session["postroom_2fa_pending"]["at"] -= 600
    session.save()

    response = client.get(reverse("login_code"))

    assert response.status_code == 302
    assert response.url == reverse("login")


def test_a_session_without_the_code_is_logged_out(alice):
    client = logged_in(alice)  # a session from before the authenticator was set up
    with_authenticator(alice)

    response = client.get(reverse("web:inbox"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert "_auth_user_id" not in client.session


def test_the_admin_asks_for_the_second_factor_of_a_user_who_has_one(client):
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    device, _ = with_authenticator(root)
    assert logged_in(root).get("/admin/").status_code == 302  # no code: sent to log in

    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0] == f"{reverse('login')}?next=%2Fadmin%2F"
    response = _password(client, "root", next_url="/admin/")
    assert response.url == reverse("login_code")
    response = client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})

    assert response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_an_administrator_without_an_authenticator_must_set_one_up_when_required(settings):
    settings.REQUIRE_ADMIN_2FA = True
    root = logged_in(UserFactory(username="root", is_staff=True, is_superuser=True))
    colleague = logged_in(UserFactory(username="bob"))

    response = root.get(reverse("web:inbox"))

    assert response.status_code == 302
    assert response.url == reverse("web:two_factor")
    assert root.get("/admin/").url == reverse("web:two_factor")
    page = root.get(reverse("web:two_factor")).content.decode()
    assert "requires administrators to log in with a second factor" in page
    assert colleague.get(reverse("web:inbox")).status_code == 200


def test_an_administrator_cannot_turn_it_off_when_required(settings):
    settings.REQUIRE_ADMIN_2FA = True
    root = UserFactory(username="root", is_staff=True, is_superuser=True)
    with_authenticator(root)

    with pytest.raises(actions.TwoFactorError):
        actions.do_turn_off(root)

    assert TOTPDevice.objects.filter(user=root, confirmed=True).exists()
