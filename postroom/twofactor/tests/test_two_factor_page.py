"""A user's own two-factor page: a QR code drawn on the server, one code to confirm,
recovery codes shown once; turning it off takes the password."""

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from postroom.testing.factories import UserFactory
from postroom.twofactor.models import RecoveryCode

from .test_two_factor_login import PASSWORD, code_of, with_authenticator

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def client_of_alice(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    return client


def test_the_profile_links_to_the_two_factor_page(client_of_alice):
    page = client_of_alice.get(reverse("web:profile")).content.decode()

    assert reverse("web:two_factor") in page
    assert "Two-factor authentication</a> — off" in page


def test_setting_up_shows_an_svg_qr_code_and_the_key(client_of_alice, alice):
    response = client_of_alice.get(reverse("web:two_factor"))

    page = response.content.decode()
    assert '<svg width="' in page and 'class="segno"' in page
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert "otp-secret" in page
    # The same pending device on a reload: a code already scanned stays good.
    client_of_alice.get(reverse("web:two_factor"))
    assert TOTPDevice.objects.get(user=alice).pk == device.pk


def test_confirming_a_right_code_turns_it_on_and_shows_recovery_codes_once(client_of_alice, alice):
    client_of_alice.get(reverse("web:two_factor"))
    device = TOTPDevice.objects.get(user=alice)

    response = client_of_alice.post(reverse("web:two_factor"), {"code": code_of(device)})

    device.refresh_from_db()
    assert device.confirmed
    page = response.content.decode()
    assert "shown\n  only now" in page or "shown only now" in page.replace("\n  ", " ")
    assert page.count("<li><code>") == 10
    assert RecoveryCode.objects.filter(user=alice).count() == 10
    # This session proved the code: it goes on without logging in again.
    assert client_of_alice.get(reverse("web:inbox")).status_code == 200
    assert "<li><code>" not in client_of_alice.get(reverse("web:two_factor")).content.decode()


def test_a_wrong_confirmation_code_leaves_it_off(client_of_alice, alice):
    client_of_alice.get(reverse("web:two_factor"))

    response = client_of_alice.post(reverse("web:two_factor"), {"code": "123456"})

    assert "That code is not right" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()


def test_turning_it_off_takes_the_password(client, alice):
    device, _ = with_authenticator(alice)
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})

    client.post(reverse("web:two_factor_off"), {"password": "not mine"})
    assert TOTPDevice.objects.filter(user=alice).exists()

    client.post(reverse("web:two_factor_off"), {"password": PASSWORD})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert not RecoveryCode.objects.filter(user=alice).exists()


def test_new_recovery_codes_replace_the_old(client, alice):
    device, old = with_authenticator(alice)
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    client.post(reverse("login_code"), {"code": code_of(device, steps_ahead=1)})

    response = client.post(reverse("web:two_factor_recovery_codes"))

    assert response.content.decode().count("<li><code>") == 10
    assert old[0] not in response.content.decode()
    assert RecoveryCode.objects.filter(user=alice).count() == 10
