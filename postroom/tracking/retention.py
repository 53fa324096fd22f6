"""How long opens and clicks are kept (issue 16, point 6): POSTROOM_TRACKING_KEEP_DAYS
days, 0 for ever. An email's "Read" mark (TrackedEmail.first_read_at) and the trigger
firings on timelines stay: they are the email's and the item's history, not events."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from .models import TrackingEvent

# Rows deleted per statement: a long backlog never holds one huge transaction.
BATCH = 5000


def prune(now=None) -> int:
    """Delete the events older than the kept days; returns how many went."""
    days = settings.POSTROOM["TRACKING_KEEP_DAYS"]
    if not days:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    total = 0
    while True:
        ids = list(TrackingEvent.objects.filter(at__lt=cutoff).values_list("pk", flat=True)[:BATCH])
        if not ids:
            return total
        total += TrackingEvent.objects.filter(pk__in=ids).delete()[0]
