"""Events are kept POSTROOM_TRACKING_KEEP_DAYS days; the prune job deletes the rest."""

from datetime import timedelta

import pytest
from django.utils import timezone

from postroom.tracking.jobs import prune_events
from postroom.tracking.models import TrackedEmail, TrackingEvent

from .conftest import send_offer

pytestmark = pytest.mark.django_db(transaction=True)


def _events(outbox, *ages_in_days):
    tracked = TrackedEmail.objects.get(pk=outbox.pk)
    now = timezone.now()
    for age in ages_in_days:
        TrackingEvent.objects.create(
            email=tracked, recipient="anna@customer.test", kind="open", at=now - timedelta(days=age)
        )


def test_events_older_than_the_kept_days_are_pruned_by_the_job(sales, alice, smtp_server, settings):
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_KEEP_DAYS": 30}
    outbox = send_offer(sales, alice)
    smtp_server.wait_for(1)
    _events(outbox, 1, 29, 31, 400)
    TrackedEmail.objects.filter(pk=outbox.pk).update(first_read_at=timezone.now())
    assert prune_events.call() == 2
    ages = sorted((timezone.now() - e.at).days for e in TrackingEvent.objects.all())
    assert ages == [1, 29]
    # The email's Read mark is its history, not an event: it stays.
    assert TrackedEmail.objects.get(pk=outbox.pk).first_read_at is not None


def test_zero_days_keeps_events_for_ever(sales, alice, smtp_server, settings):
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_KEEP_DAYS": 0}
    outbox = send_offer(sales, alice)
    smtp_server.wait_for(1)
    _events(outbox, 5000)
    assert prune_events.call() == 0
    assert TrackingEvent.objects.count() == 1
