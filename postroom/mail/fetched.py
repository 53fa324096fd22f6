"""Fetched batches: what an initial sync wrote to a pack, recorded later by a job.

A backfill stores thousands of old emails at once. Recording each one (its raw row,
its identity, its copy) while fetching made the fetch wait for the database; a batch
is durable as soon as its bytes are in an fsynced pack and one FetchedBatch row names
where each message is. `record_batch` (the `record` job) then does what `store_copies`
does for new mail, and the unique keys make running it twice a no-op.
"""

import logging
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from postroom.mailboxes.models import Folder

from . import ahead, rawstore
from .ingest import FetchedMessage, Prepared, fetch_error_marker, store_copies
from .models import FetchedBatch
from .parse import read_identity

logger = logging.getLogger(__name__)


def stage_batch(
    folder: Folder, uidvalidity: int, fetched: list[FetchedMessage], pack: str, offsets: list[int]
) -> FetchedBatch:
    """The row of a batch whose bytes `PackWriter.append` wrote to `pack` at `offsets`;
    in the caller's transaction, with the cursor it moves."""
    entries = [
        [
            f.uid,
            offset,
            len(f.raw),
            list(f.flags),
            int(f.internal_date.timestamp()) if f.internal_date else None,
            f.truncated_size,
        ]
        for f, offset in zip(fetched, offsets, strict=True)
    ]
    return FetchedBatch.objects.create(
        folder=folder, uidvalidity=uidvalidity, pack=pack, entries=entries
    )


def record_batch(batch_id: int) -> tuple[list[int], int] | None:
    """Record a fetched batch as messages and copies of its folder, and delete it: (ids
    of the newly seen messages, mailbox id), or None when it was recorded already."""
    with transaction.atomic():
        batch = (
            FetchedBatch.objects.select_for_update(of=("self",))
            .select_related("folder")
            .filter(pk=batch_id)
            .first()
        )
        if batch is None:
            return None
        folder = batch.folder
        batch.delete()
        if folder.uidvalidity != batch.uidvalidity:
            # The folder was renumbered since: it is being fetched again, these UIDs
            # name nothing now, and the bytes stay unreferenced in their pack.
            logger.info("%s was renumbered: a fetched batch is dropped", folder)
            return [], folder.mailbox_id
        prepared, staged = _read(batch)
        arrived = store_copies(folder, batch.uidvalidity, prepared, staged)
    if len(arrived) == len(prepared.fetched):
        # All new (a first sync): parsed in another process while the next batches are
        # recorded, for the ingest job this queues (mail/ahead.py).
        ahead.start(dict(zip(prepared.shas, (f.raw for f in prepared.fetched), strict=True)))
    return arrived, folder.mailbox_id


def _read(batch: FetchedBatch) -> tuple[Prepared, rawstore.Staged]:
    """The batch's messages read back from its pack, and their RawMessage rows.

    Bytes that cannot be read back (the pack was deleted or damaged) become a marker
    that names the error, as a message the server would not give does: it is
    quarantined and shown to admins, never dropped without a word.
    """
    entries = list({entry[0]: entry for entry in batch.entries}.values())  # one per UID
    try:
        raws = rawstore.read_places(batch.pack, [(offset, size) for _, offset, size, *_ in entries])
    except rawstore.Unreadable as exc:
        logger.error("a fetched batch of %s cannot be read: %s", batch.folder, exc)
        raws = [fetch_error_marker(uid, str(exc)) for uid, *_ in entries]
        unreadable = True
    else:
        unreadable = False
    fetched = [
        FetchedMessage(
            uid=uid,
            raw=raw,
            flags=tuple(flags),
            internal_date=datetime.fromtimestamp(date, UTC) if date is not None else None,
            truncated_size=truncated,
        )
        for (uid, _, _, flags, date, truncated), raw in zip(entries, raws, strict=True)
    ]
    shas = [rawstore.sha256_of(raw) for raw in raws]
    prepared = Prepared(fetched, shas, [read_identity(raw) for raw in raws])
    if unreadable:  # the markers' bytes go in their rows
        return prepared, rawstore.Staged(("sha256", "data"), list(zip(shas, raws, strict=True)))
    rows = [
        (sha, batch.pack, offset, size)
        for sha, (_, offset, size, *_) in zip(shas, entries, strict=True)
    ]
    return prepared, rawstore.Staged(("sha256", "pack", "pack_offset", "size"), rows)


def staged_uids(folder: Folder) -> set[int]:
    """The UIDs of the folder's batches fetched and not recorded yet."""
    batches = FetchedBatch.objects.filter(folder=folder, uidvalidity=folder.uidvalidity)
    return {entry[0] for entries in batches.values_list("entries", flat=True) for entry in entries}


def overdue_batches(age: timedelta) -> list[int]:
    """The batches fetched more than `age` ago and not recorded yet: oldest first."""
    since = timezone.now() - age
    overdue = FetchedBatch.objects.filter(created_at__lt=since).order_by("pk")
    return list(overdue.values_list("pk", flat=True))
