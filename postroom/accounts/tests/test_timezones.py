"""Each user's time zone: saved from the profile or guessed once from the browser, and
activated for their requests (accounts.timezones)."""

import zoneinfo

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.accounts.timezones import TimeZoneError, do_set_time_zone, zone_of
from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


def test_it_saves_a_known_zone_and_refuses_an_unknown_one():
    user = UserFactory()
    assert do_set_time_zone(user, "Europe/Berlin")
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"
    with pytest.raises(TimeZoneError):
        do_set_time_zone(user, "Mars/Olympus_Mons")
    user.refresh_from_db()
    assert user.time_zone == "Europe/Berlin"


def test_the_browsers_guess_never_overrides_a_chosen_zone():
    user = UserFactory()
    assert do_set_time_zone(user, "Asia/Tokyo", only_if_unset=True)
    assert not do_set_time_zone(user, "America/New_York", only_if_unset=True)
    user.refresh_from_db()
    assert user.time_zone == "Asia/Tokyo"


def test_without_a_zone_the_servers_is_used(settings):
    settings.TIME_ZONE = "UTC"
    assert zone_of(UserFactory(time_zone="")) == zoneinfo.ZoneInfo("UTC")


def test_the_middleware_activates_the_users_zone_for_their_request():
    user = UserFactory(time_zone="Australia/Sydney")
    response = logged_in(user).get(reverse("web:profile"))
    assert response.status_code == 200
    assert "Now " in response.text and ("AEDT" in response.text or "AEST" in response.text)
    # Nothing leaks out of the request.
    assert timezone.get_current_timezone_name() != "Australia/Sydney"


def test_the_profile_form_saves_the_zone():
    user = UserFactory()
    client = logged_in(user)
    response = client.post(reverse("web:time_zone"), {"time_zone": "Europe/Lisbon"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.time_zone == "Europe/Lisbon"
    response = client.post(reverse("web:time_zone"), {"time_zone": "Nowhere/Town"}, follow=True)
    assert "Not saved" in response.text
    user.refresh_from_db()
    assert user.time_zone == "Europe/Lisbon"


def test_the_browsers_guess_is_asked_for_only_while_no_zone_is_set():
    user = UserFactory()
    client = logged_in(user)
    assert 'id="time-zone-guess"' in client.get(reverse("web:profile")).text
    answer = client.post(reverse("web:time_zone"), {"time_zone": "Europe/Paris", "guess": "1"})
    assert answer.json() == {"changed": True, "time_zone": "Europe/Paris"}
    assert 'id="time-zone-guess"' not in client.get(reverse("web:profile")).text
    again = client.post(reverse("web:time_zone"), {"time_zone": "Asia/Dubai", "guess": "1"})
    assert again.json()["changed"] is False
    user.refresh_from_db()
    assert user.time_zone == "Europe/Paris"
