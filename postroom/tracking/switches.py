"""Whether an email is tracked: on by default, off per mailbox, per user and per email.

Auto-replies (and any machine mail, which has no composition) are never tracked.
"""

from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import OutboxMessage

from .models import TrackingSettings


def mailbox_tracks(mailbox_id: int) -> bool:
    row = TrackingSettings.objects.filter(mailbox_id=mailbox_id).first()
    return row is None or row.enabled


def user_tracks(user_id: int | None) -> bool:
    if user_id is None:
        return True
    row = TrackingSettings.objects.filter(user_id=user_id).first()
    return row is None or row.enabled


def do_set_mailbox_tracking(mailbox: Mailbox, enabled: bool) -> None:
    TrackingSettings.objects.update_or_create(mailbox=mailbox, defaults={"enabled": enabled})


def do_set_user_tracking(user, enabled: bool) -> None:
    TrackingSettings.objects.update_or_create(user=user, defaults={"enabled": enabled})


def tracking_wanted(outbox: OutboxMessage) -> bool:
    if outbox.kind == OutboxMessage.Kind.AUTO_REPLY or not outbox.composition:
        return False
    if not outbox.composition.get("track", True):
        return False
    return mailbox_tracks(outbox.mailbox_id) and user_tracks(outbox.author_id)
