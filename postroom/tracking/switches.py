"""Whether an email is tracked: on by default, off for the organisation
(POSTROOM_TRACKING), per mailbox, per user, per email and per recipient (an opt-out).

Auto-replies (and any machine mail, which has no composition) are never tracked.
"""

from django.conf import settings

from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import OutboxMessage

from .models import TrackingOptOut, TrackingSettings


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
    if not settings.POSTROOM["TRACKING"]:
        return False
    if outbox.kind == OutboxMessage.Kind.AUTO_REPLY or not outbox.composition:
        return False
    if not outbox.composition.get("track", True):
        return False
    return mailbox_tracks(outbox.mailbox_id) and user_tracks(outbox.author_id)


def opted_out(addresses) -> set[str]:
    """Those of the addresses whose mail is never tracked."""
    wanted = {a.strip().lower() for a in addresses}
    return set(TrackingOptOut.objects.filter(address__in=wanted).values_list("address", flat=True))


def is_opted_out(address: str) -> bool:
    return bool(address) and bool(opted_out([address]))


def do_set_opt_out(address: str, opted: bool, *, acting_user=None) -> None:
    address = address.strip().lower()
    if opted:
        TrackingOptOut.objects.get_or_create(address=address, defaults={"created_by": acting_user})
    else:
        TrackingOptOut.objects.filter(address=address).delete()
