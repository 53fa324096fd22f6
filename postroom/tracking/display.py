"""What the conversation and the CRM timeline show of an email's tracking: "Read" with
the first real open's time and the number of real opens, and the clicks."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from .models import TrackedEmail, TrackingEvent

Kind = TrackingEvent.Kind


@dataclass(frozen=True)
class ReadState:
    tracked: bool
    first_read_at: datetime | None = None
    opens: int = 0  # real opens (a click without a shown image counts as one)
    clicks: int = 0
    prefetches: int = 0

    @property
    def is_read(self) -> bool:
        return self.first_read_at is not None


NOT_TRACKED = ReadState(tracked=False)


def read_states(message_ids) -> dict[int, ReadState]:
    """The ReadState of each sent Message (by id) that was tracked, in two queries."""
    # outbox id -> (stored message id, first real open as TrackedEmail keeps it). The
    # email's own mark outlives its events: once they are pruned (retention.py) the
    # email still reads "Read" with its first open's time, without counts.
    tracked = {
        outbox_id: (message_id, first_read_at)
        for outbox_id, message_id, first_read_at in TrackedEmail.objects.filter(
            outbox__stored_message_id__in=list(message_ids)
        ).values_list("outbox_id", "outbox__stored_message_id", "first_read_at")
    }
    if not tracked:
        return {}
    real, prefetch = Q(is_prefetch=False), Q(is_prefetch=True)
    rows = (
        TrackingEvent.objects.filter(email_id__in=list(tracked))
        .values("email_id")
        .annotate(
            first=Min("at", filter=real & Q(kind=Kind.OPEN)),
            opens=Count("pk", filter=real & Q(kind=Kind.OPEN)),
            clicks=Count("pk", filter=real & Q(kind=Kind.CLICK)),
            prefetches=Count("pk", filter=prefetch & Q(kind=Kind.OPEN)),
        )
    )
    states = {
        message_id: ReadState(tracked=True, first_read_at=first_read_at)
        for message_id, first_read_at in tracked.values()
    }
    for row in rows:
        message_id, first_read_at = tracked[row["email_id"]]
        states[message_id] = ReadState(
            tracked=True,
            first_read_at=row["first"] or first_read_at,
            opens=row["opens"],
            clicks=row["clicks"],
            prefetches=row["prefetches"],
        )
    return states


def read_state(message_id: int) -> ReadState:
    return read_states([message_id]).get(message_id, NOT_TRACKED)
