"""Webhooks in a real browser, delivered to a real receiver (http.server on 127.0.0.1,
allowed here as an administrator would allow it) that verifies each signature with the
README's code: an administrator subscribes, copies the secret shown once, sends a test
event, reads the response codes in the delivery log, and sends a failed delivery again
by its button once the receiver is back."""

import pytest

from postroom.testing.dovecot import free_port
from postroom.testing.factories import UserFactory
from postroom.testing.web import log_in
from postroom.webhooks.emitting import forget_subscribers
from postroom.webhooks.models import Delivery, Subscription
from postroom.webhooks.tests.conftest import Receiver, run_jobs

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver(settings):
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "ALLOWED_NETWORKS": ["127.0.0.0/8"],
        # A failed attempt's retry is not due during the test: only the button sends it.
        "RETRY_BASE": 3600,
        "RETRY_CAP": 3600,
    }
    forget_subscribers()
    server = Receiver(port=free_port())
    server.start()
    yield server
    server.stop()


def _row(page, delivery: Delivery):
    return page.locator(f"#delivery-{delivery.pk}")


def test_an_administrator_subscribes_tests_and_sends_again_from_the_log(
    live_server, page, receiver
):
    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    UserFactory(username="boss", is_superuser=True)
    log_in(page, f"{live_server.url}/settings/webhooks/", "boss")
    # The first page after logging in may reload itself once (the browser's time zone
    # saved): let it settle, then open the form afresh.
    page.wait_for_selector("input[name=url]")
    page.wait_for_load_state("networkidle")
    page.goto(f"{live_server.url}/settings/webhooks/")

    page.fill("input[name=url]", receiver.url)
    page.check("input[name=events][value='lead.created']")
    page.fill("input[name=description]", "ERP")
    page.click("button:has-text('Add subscription')")
    page.wait_for_selector("[data-secret]")
    assert "shown only this once" in page.inner_text("main")
    receiver.secret = page.inner_text("[data-secret]").strip()
    subscription = Subscription.objects.get()
    assert subscription.url == receiver.url

    page.click("text=Continue to the subscription")
    page.wait_for_selector("button:has-text('Send test event')")
    # The secret is not on the subscription's page: it was shown once.
    assert receiver.secret not in page.content()
    page.click("button:has-text('Send test event')")
    page.wait_for_selector("text=Test event queued")
    run_jobs()

    [got] = receiver.received
    assert got.verified, "the signature verifies with the secret the page showed"
    assert got.json["event"] == "webhook.test"
    first = Delivery.objects.get()
    page.reload()
    assert _row(page, first).locator(".response-code").inner_text() == "200"
    assert "Delivered" in _row(page, first).inner_text()

    # The receiver fails: the log says 500 and that the delivery waits for a retry.
    receiver.status = 500
    page.click("button:has-text('Send test event')")
    page.wait_for_selector("text=Test event queued")
    run_jobs()
    failed = Delivery.objects.exclude(pk=first.pk).get()
    assert failed.status == Delivery.Status.PENDING and failed.response_status == 500
    page.reload()
    assert _row(page, failed).locator(".response-code").inner_text() == "500"
    assert "next try" in _row(page, failed).inner_text()

    # Back up: Send again delivers that same event (same id) now, not after the pause.
    receiver.status = 200
    _row(page, failed).locator("button:has-text('Send again')").click()
    page.wait_for_selector("text=queued to be sent again")
    run_jobs()
    failed.refresh_from_db()
    assert (failed.status, failed.response_status, failed.attempts) == (
        Delivery.Status.DELIVERED,
        200,
        2,
    )
    ids = [r.json["id"] for r in receiver.received]
    assert ids == [str(first.event_id), str(failed.event_id), str(failed.event_id)]
    assert all(r.verified for r in receiver.received[1:])
    page.reload()
    assert _row(page, failed).locator(".response-code").inner_text() == "200"

    # The delivery's own page lists both attempts with their codes.
    _row(page, failed).locator(f"a[href$='/deliveries/{failed.pk}/']").click()
    page.wait_for_selector("table.attempts")
    attempts = page.inner_text("table.attempts")
    assert "500" in attempts and "200" in attempts
