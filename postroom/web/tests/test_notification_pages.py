"""The live notification badge's JSON and each user's notification settings page."""

import pytest
from django.urls import reverse

from postroom.accounts.models import Notification, NotificationPreference
from postroom.accounts.notify import notify
from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


def test_the_live_feed_counts_unread_and_lists_the_newest_of_the_user_alone(client):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    notify(alice, "assigned", "You have “Chairs”", "/conversations/1/")
    notify(alice, "mentioned", "Bob mentioned you", "/conversations/2/#comment-3")
    notify(bob, "assigned", "Not for Alice", "")
    Notification.objects.filter(kind="assigned", user=alice).update(read_at="2026-12-07T00:00Z")
    data = logged_in(alice).get(reverse("web:notifications_live")).json()
    assert data["unread"] == 1
    assert [item["text"] for item in data["items"]] == ["Bob mentioned you", "You have “Chairs”"]
    assert data["items"][0]["unread"] and not data["items"][1]["unread"]


def test_the_live_feed_needs_a_login(client):
    answer = client.get(reverse("web:notifications_live"))
    assert answer.status_code == 302 and "login" in answer["Location"]


def test_the_header_loads_the_live_badge(client):
    page = logged_in(UserFactory()).get(reverse("web:notifications"))
    assert "data-notification-badge" in page.text and "notifications.js" in page.text


def test_a_user_chooses_what_they_are_told_and_how(client):
    alice = UserFactory(username="alice")
    client = logged_in(alice)
    page = client.get(reverse("web:notification_settings"))
    assert "The customer replied on your conversation" in page.text
    answer = client.post(
        reverse("web:notification_settings"),
        {"assigned:app": "on", "assigned:email": "on", "mentioned:email": "on"},
    )
    assert answer.status_code == 302
    prefs = {p.kind: (p.in_app, p.by_email) for p in NotificationPreference.objects.all()}
    assert prefs["assigned"] == (True, True)
    assert prefs["mentioned"] == (False, True)
    assert prefs["deadline_breached"] == (False, False)
    assert notify(alice, "mentioned", "quiet") is None  # no longer in the app


def test_settings_change_only_with_the_csrf_token():
    client = logged_in(UserFactory(), enforce_csrf_checks=True)
    answer = client.post(reverse("web:notification_settings"), {"assigned:email": "on"})
    assert answer.status_code == 403
    assert not NotificationPreference.objects.exists()
