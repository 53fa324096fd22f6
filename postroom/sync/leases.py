"""Database leases: every synced folder is watched by exactly one worker.

A worker renews its leases several times per TTL (POSTROOM_LEASE_TTL); a lease that
is not renewed expires and another worker takes the folder over. Claims are
conditional updates, so two workers racing for one folder cannot both win.
"""

import math
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from postroom.mailboxes.models import Folder

from .models import FolderLease, SyncWorker


def lease_ttl() -> timedelta:
    return timedelta(seconds=settings.POSTROOM["LEASE_TTL"])


def heartbeat(worker_id: str, *, hostname: str = "", pid: int | None = None) -> None:
    SyncWorker.objects.update_or_create(
        worker_id=worker_id,
        defaults={"heartbeat_at": timezone.now(), "hostname": hostname, "pid": pid},
    )


def live_workers() -> int:
    return SyncWorker.objects.filter(heartbeat_at__gte=timezone.now() - lease_ttl()).count()


def renew(worker_id: str) -> set[int]:
    """Extend this worker's leases; return the folders it still holds."""
    now = timezone.now()
    held = FolderLease.objects.filter(worker_id=worker_id, expires_at__gt=now)
    held.update(expires_at=now + lease_ttl())
    return set(held.values_list("folder_id", flat=True))


def claim(worker_id: str, *, capacity: int) -> set[int]:
    """Renew, then take free or expired folders up to a fair share; return what is held.

    The fair share (folders / live workers, rounded up) spreads folders over workers;
    a worker above it releases the excess so that a newcomer gets its part.
    """
    held = renew(worker_id)
    folders = list(
        Folder.objects.filter(is_synced=True)
        .exclude(mailbox__imap_host="")
        .values_list("pk", flat=True)
    )
    share = min(capacity, math.ceil(len(folders) / max(1, live_workers())))
    if len(held) > share:
        excess = sorted(held)[share:]
        release(worker_id, excess)
        held -= set(excess)
    now = timezone.now()
    for folder_id in folders:
        if len(held) >= share:
            break
        if folder_id in held:
            continue
        if _take(folder_id, worker_id, now):
            held.add(folder_id)
    # Folders no longer synced (deleted or switched off) are let go.
    gone = held - set(folders)
    if gone:
        release(worker_id, gone)
    return held - gone


def _take(folder_id: int, worker_id: str, now) -> bool:
    taken = FolderLease.objects.filter(folder_id=folder_id, expires_at__lte=now).update(
        worker_id=worker_id, expires_at=now + lease_ttl()
    )
    if taken:
        return True
    if FolderLease.objects.filter(folder_id=folder_id).exists():
        return False
    try:
        with transaction.atomic():
            FolderLease.objects.create(
                folder_id=folder_id, worker_id=worker_id, expires_at=now + lease_ttl()
            )
    except IntegrityError:
        return False  # another worker created it first
    return True


def release(worker_id: str, folder_ids=None) -> None:
    leases = FolderLease.objects.filter(worker_id=worker_id)
    if folder_ids is not None:
        leases = leases.filter(folder_id__in=list(folder_ids))
    leases.delete()


def retire(worker_id: str) -> None:
    """A worker that stops cleanly hands its folders over at once."""
    release(worker_id)
    SyncWorker.objects.filter(worker_id=worker_id).delete()
