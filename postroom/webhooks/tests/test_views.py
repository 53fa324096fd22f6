"""The webhook pages: administrators only, CSRF on, the secret shown once, and the
buttons (test event, switch off, new secret, send again) do what they say."""

import pytest
from django.urls import reverse

from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in
from postroom.webhooks.actions import do_create_subscription
from postroom.webhooks.models import Delivery, Subscription

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"


@pytest.fixture
def subscription(admin):
    subscription, _ = do_create_subscription(URL, ["lead.created"], acting_user=admin)
    return subscription


@pytest.fixture
def delivery(subscription, admin):
    from postroom.webhooks.actions import do_send_test

    return do_send_test(subscription, acting_user=admin)


def _pages(subscription, delivery) -> list[tuple[str, str]]:
    return [
        ("get", reverse("webhooks:subscriptions")),
        ("post", reverse("webhooks:subscriptions")),
        ("get", reverse("webhooks:subscription", args=[subscription.pk])),
        ("post", reverse("webhooks:subscription", args=[subscription.pk])),
        ("post", reverse("webhooks:switch", args=[subscription.pk])),
        ("post", reverse("webhooks:secret", args=[subscription.pk])),
        ("post", reverse("webhooks:test", args=[subscription.pk])),
        ("get", reverse("webhooks:delivery", args=[delivery.pk])),
        ("post", reverse("webhooks:again", args=[delivery.pk])),
    ]


@pytest.mark.parametrize("who", ["colleague", "staff member who is no administrator"])
def test_anyone_but_an_administrator_is_refused_everywhere(who, subscription, delivery):
    user = UserFactory(username="bea", is_staff=who.startswith("staff"))
    client = logged_in(user)
    secret_before = Subscription.objects.get().secret_encrypted
    for method, url in _pages(subscription, delivery):
        response = getattr(client, method)(url, {"url": "https://93.184.216.34/", "on": "0"})
        assert response.status_code == 403, (method, url)
        assert "Only administrators manage webhooks" in response.content.decode()
    # Nothing changed, nothing was sent.
    stored = Subscription.objects.get()
    assert (stored.is_active, stored.secret_encrypted) == (True, secret_before)
    assert Delivery.objects.count() == 1


def test_a_stranger_is_sent_to_the_login_page(client, subscription, delivery):
    for method, url in _pages(subscription, delivery):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login/" in response["Location"], url


def test_posts_without_the_csrf_token_are_refused(admin, subscription, delivery):
    client = logged_in(admin, enforce_csrf_checks=True)
    for method, url in _pages(subscription, delivery):
        if method == "post":
            assert client.post(url, {"on": "0"}).status_code == 403, url
    assert Subscription.objects.get().is_active


def test_an_administrator_adds_a_subscription_and_sees_its_secret_once(admin):
    client = logged_in(admin)
    page = client.get(reverse("webhooks:subscriptions")).content.decode()
    assert "No subscriptions yet" in page
    response = client.post(
        reverse("webhooks:subscriptions"),
        {"url": URL, "events": ["lead.created", "email.opened"], "description": "ERP"},
    )
    assert response.status_code == 200
    subscription = Subscription.objects.get()
    secret = subscription.get_secret()
    assert secret.startswith("whsec_") and secret in response.content.decode()
    assert subscription.events == ["lead.created", "email.opened"]
    assert secret not in subscription.secret_encrypted  # encrypted at rest
    # Never shown again.
    for url in (
        reverse("webhooks:subscriptions"),
        reverse("webhooks:subscription", args=[subscription.pk]),
    ):
        assert secret not in client.get(url).content.decode()


def test_a_private_url_is_refused_with_the_reason(admin, settings):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": []}
    client = logged_in(admin)
    response = client.post(
        reverse("webhooks:subscriptions"),
        {"url": "http://192.168.1.10/hook", "events": ["lead.created"]},
    )
    assert response.status_code == 400
    assert "192.168.1.10 is a private address" in response.content.decode()
    assert not Subscription.objects.exists()


def test_a_form_without_events_or_with_unknown_ones_is_refused(admin):
    client = logged_in(admin)
    for events in ([], ["lead.deleted"]):
        response = client.post(reverse("webhooks:subscriptions"), {"url": URL, "events": events})
        assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_the_buttons_do_what_they_say(admin, subscription):
    client = logged_in(admin)
    detail = reverse("webhooks:subscription", args=[subscription.pk])

    client.post(reverse("webhooks:test", args=[subscription.pk]))
    test = Delivery.objects.get()
    assert test.event == "webhook.test"
    page = client.get(detail).content.decode()
    assert "webhook.test" in page and "Send again" in page

    Delivery.objects.filter(pk=test.pk).update(status="failed", response_status=500)
    client.post(reverse("webhooks:again", args=[test.pk]))
    test.refresh_from_db()
    assert test.status == "pending"

    old = subscription.secret_encrypted
    response = client.post(reverse("webhooks:secret", args=[subscription.pk]))
    subscription.refresh_from_db()
    assert subscription.secret_encrypted != old
    assert subscription.get_secret() in response.content.decode()

    client.post(reverse("webhooks:switch", args=[subscription.pk]), {"on": "0"})
    subscription.refresh_from_db()
    assert not subscription.is_active
    assert (
        "Not sent"
        in client.post(
            reverse("webhooks:test", args=[subscription.pk]), follow=True
        ).content.decode()
    )

    response = client.post(
        detail,
        {"url": URL, "events": ["deal.stage_changed"], "description": "CRM", "is_active": "on"},
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.events, subscription.is_active) == (["deal.stage_changed"], True)


def test_the_delivery_log_shows_codes_and_the_delivery_page_its_attempts(admin, delivery):
    from postroom.webhooks.models import Attempt

    Attempt.objects.create(delivery=delivery, response_status=503, response_body="busy")
    Delivery.objects.filter(pk=delivery.pk).update(attempts=1, response_status=503)
    client = logged_in(admin)
    log = client.get(reverse("webhooks:subscription", args=[delivery.subscription_id]))
    assert "503" in log.content.decode()
    page = client.get(reverse("webhooks:delivery", args=[delivery.pk])).content.decode()
    assert "busy" in page and str(delivery.event_id) in page
    assert client.get(reverse("webhooks:delivery", args=[delivery.pk + 99])).status_code == 404
