"""Reading an item's timeline."""

from django.contrib.contenttypes.models import ContentType
from django.db import models

from .models import TimelineEntry


def timeline_of(item: models.Model) -> models.QuerySet[TimelineEntry]:
    """Newest first, with each email's message loaded for display."""
    return TimelineEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(item), object_id=item.pk
    ).select_related("activity__message", "author")
