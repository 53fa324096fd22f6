"""Incremental sync of a mailbox's folders into stored messages.

The cursor (UIDVALIDITY, last UID) moves in the same transaction that stores the
batch of messages it covers, so a crash at any point re-fetches at most one batch,
and the unique keys on the copy and the message's identity make that a no-op.
"""

import logging
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta

from django.conf import settings
from django.db import transaction

from postroom import pipeline
from postroom.mail import rawstore
from postroom.mail.fetched import stage_batch, staged_uids
from postroom.mail.ingest import (
    FetchedMessage,
    Prepared,
    fetch_error_marker,
    prepare,
    store_copies,
)
from postroom.mail.models import MessageCopy
from postroom.mail.rawstore import Staged
from postroom.mail.threads import copies_removed
from postroom.mailboxes.actions import (
    ConnectionSettings,
    do_record_sync_failure,
    do_record_sync_success,
    do_update_folders,
)
from postroom.mailboxes.models import Folder, Mailbox

from . import imap

logger = logging.getLogger(__name__)

# A batch is one FETCH and one transaction: at most SYNC_BATCH messages, or this many bytes.
BATCH_BYTES = 32 * 1024 * 1024
# Batches fetched ahead of the one being stored (each at most BATCH_BYTES).
FETCH_AHEAD = 2

Progress = Callable[[int, int], None]  # (done, total) for one folder


@dataclass
class SyncSummary:
    folders: int = 0
    fetched: int = 0
    new: int = 0
    staged: int = 0  # fetched by a backfill, recorded by the `record` job
    more: bool = False  # stopped early; call again

    def __str__(self) -> str:
        text = f"{self.folders} folder(s), {self.fetched} fetched, {self.new} new"
        return f"{text}, {self.staged} to record" if self.staged else text


def server_of(mailbox: Mailbox) -> imap.ServerAddress:
    return imap.ServerAddress(
        host=mailbox.imap_host,
        port=mailbox.imap_port,
        security=mailbox.imap_security,
        username=mailbox.username,
        password=mailbox.get_password(),
        allow_self_signed=mailbox.allow_self_signed,
    )


def verify_connection(conn: ConnectionSettings) -> None:
    """Log in to the IMAP server of a mailbox being connected (before it is saved);
    imap.SyncError says why not: refused, unreachable, TLS."""
    server = imap.ServerAddress(
        host=conn.imap_host,
        port=conn.imap_port,
        security=conn.imap_security,
        username=conn.username,
        password=conn.password,
        allow_self_signed=conn.allow_self_signed,
    )
    imap.check_login(server, timeout=settings.POSTROOM["IMAP_TIMEOUT"])


def verify_password(mailbox: Mailbox, password: str) -> None:
    """Log in to the mailbox's IMAP server with `password` (before it is saved);
    imap.SyncError says why not: refused, unreachable, TLS."""
    server = replace(server_of(mailbox), password=password)
    imap.check_login(server, timeout=settings.POSTROOM["IMAP_TIMEOUT"])


def sync_folder(
    client,
    folder: Folder,
    *,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> SyncSummary:
    """Bring one folder up to date: new mail first, then flags and deletions, then the
    initial fetch window, newest first. With max_batches it may stop early (`more`)."""
    status = imap.select(client, folder.name)
    window: Window | None = None
    if folder.uidvalidity != status.uidvalidity:
        window = _start_initial_fetch(client, folder, status)
    summary = SyncSummary(folders=1)
    budget = [max_batches]

    new_uids = imap.uids_since(client, folder.last_uid + 1)
    _fetch_and_store(client, folder, status, new_uids, summary, budget, progress, _advance)
    if summary.more:
        return summary
    _reconcile(client, folder, status)
    if folder.backfill_below is None and folder.window_days != folder.mailbox.initial_days:
        _widen_window(folder)
    if folder.backfill_below is not None:
        # The window was searched a moment ago, or by an earlier run: search what is left.
        found = window if window is not None else _backfill_left(client, folder)
        old = list(found)
        if folder.backfill_total < folder.backfill_done + len(old):  # a widened window
            folder.backfill_total = folder.backfill_done + len(old)
            folder.save(update_fields=["backfill_total"])
        old.reverse()  # newest first: the UI is useful at once
        _fetch_and_store(
            client, folder, status, old, summary, budget, progress, _backfill, sizes=found
        )
        if not summary.more:
            folder.backfill_below = None
            folder.save(update_fields=["backfill_below"])
    return summary


# The UIDs of a folder's initial-fetch window, in UID order, with their sizes.
Window = dict[int, int]


def _window_start(folder: Folder) -> date:
    return date.today() - timedelta(days=folder.mailbox.initial_days)


def _in_window(client, folder: Folder, found: list[int]) -> Window:
    """{uid: size} of the messages `found` by a SEARCH SINCE whose INTERNALDATE, read
    back from the server, is on or after the window's first day.

    The window is a date, never a UID: a folder's UIDs are in the order mail reached
    it, and mail moved or restored into a folder, an import or a server migration gives
    old mail high UIDs. SEARCH SINCE chooses on the server; the INTERNALDATE check keeps
    a server whose SEARCH is lax (or a date at the edge of its time zone) from letting
    older mail in. A message whose date the server does not give is kept: SEARCH chose it.
    """
    start = _window_start(folder)
    window, older = {}, 0
    for uid, (size, internal) in sorted(imap.sizes_and_dates(client, found).items()):
        if internal is not None and internal.date() < start:
            older += 1
            continue
        window[uid] = size
    if older:
        logger.info("%s: %s message(s) older than %s left out of the window", folder, older, start)
    return window


def _backfill_left(client, folder: Folder) -> Window:
    """The window below the backfill's cursor that is not stored (or staged) yet (a
    widened window holds the mail fetched before: it is not fetched again)."""
    below = folder.backfill_below - 1
    if below < 1:  # "UID 1:0" is not a valid set: with nothing below, the backfill is done
        return {}
    since = imap.imap_date(_window_start(folder))
    stored = MessageCopy.objects.filter(
        folder=folder, uidvalidity=folder.uidvalidity, uid__lte=below
    ).values_list("uid", flat=True)
    known = set(stored.iterator(chunk_size=10_000)) | staged_uids(folder)
    found = imap.search_uids(client, f"UID 1:{below} SINCE {since}")
    return _in_window(client, folder, [uid for uid in found if uid not in known])


def _widen_window(folder: Folder) -> None:
    """The mailbox now looks back further than this folder's initial fetch did (a
    manager raised its days): fetch the mail of the added days, below the last UID.
    Fewer days change nothing: mail fetched already stays."""
    days = folder.mailbox.initial_days
    if folder.window_days is not None and days > folder.window_days and folder.last_uid >= 1:
        logger.info("%s: looking back %s days instead of %s", folder, days, folder.window_days)
        folder.backfill_below = folder.last_uid + 1
        folder.backfill_total = folder.backfill_done = 0
    # A folder fetched before its window was recorded took the days it has now.
    folder.window_days = days
    folder.save(update_fields=["window_days", "backfill_below", "backfill_total", "backfill_done"])


def _start_initial_fetch(client, folder: Folder, status: imap.FolderStatus) -> Window:
    """Plan the fetch of the last `initial_days` days of a new (or renumbered) folder;
    that window, to be fetched by the backfill.

    Everything the folder holds now is either in the window or left out: the new-mail
    cursor starts above the highest UID there is (not the window's highest), so that
    old mail with higher UIDs than the window's is never taken for new mail.
    """
    if folder.uidvalidity is not None:
        logger.warning("%s: UIDVALIDITY changed, fetching the folder again", folder)
    since = imap.imap_date(_window_start(folder))
    window = _in_window(client, folder, imap.search_uids(client, f"SINCE {since}"))
    with transaction.atomic():
        # Copies under the old numbering point at nothing now; the messages stay, and
        # their identity makes the re-fetched copies join them instead of doubling.
        _remove_copies(
            MessageCopy.objects.filter(folder=folder).exclude(uidvalidity=status.uidvalidity),
            folder.mailbox_id,
        )
        folder.uidvalidity = status.uidvalidity
        # Mail that arrived between SELECT and SEARCH may be above UIDNEXT - 1.
        folder.last_uid = max([status.uidnext - 1, *window])
        folder.backfill_below = folder.last_uid + 1 if window else None
        folder.backfill_total, folder.backfill_done = len(window), 0
        folder.window_days = folder.mailbox.initial_days
        folder.highest_modseq = status.highest_modseq
        folder.save()
    return window


def _advance(folder: Folder, uids: list[int]) -> list[str]:
    folder.last_uid = max(folder.last_uid, *uids)
    return ["last_uid"]


def _backfill(folder: Folder, uids: list[int]) -> list[str]:
    folder.backfill_below = min(folder.backfill_below or uids[0], *uids)
    folder.backfill_done += len(uids)
    return ["backfill_below", "backfill_done"]


def _fetch_and_store(
    client, folder, status, uids, summary, budget, progress, move_cursor, *, sizes=None
) -> None:
    """Fetch `uids` in batches and store each with its cursor move in one transaction.

    New mail, and a window of one batch, are recorded at once (`store_copies`): they
    reach the CRM within a second. A bigger backfill, with the file store, only writes
    each batch to a pack and stages it (a FetchedBatch), and the `record` job records
    it: thousands of old emails are durable as fast as the server sends them, and the
    fetch never waits for their rows.
    """
    if sizes is None:
        sizes = imap.sizes(client, uids)
    batches = list(_batches(sizes, uids))
    staging = move_cursor is _backfill and len(batches) > 1 and rawstore.in_files()
    if budget[0] is not None:
        if len(batches) > budget[0]:
            batches, summary.more = batches[: budget[0]], True
        budget[0] -= len(batches)
    stages = _staged(client, batches) if staging else _pipelined(client, batches)
    done = 0
    for batch, stored in zip(batches, stages, strict=True):
        with transaction.atomic():
            if staging:
                fetched, (pack, offsets) = stored
                arrived = []
                if fetched:
                    row = stage_batch(folder, status.uidvalidity, fetched, pack, offsets)
                    pipeline.batch_fetched(row.pk)
                summary.staged += len(fetched)
            else:
                prepared, raws = stored
                fetched = prepared.fetched
                arrived = store_copies(folder, status.uidvalidity, prepared, raws)
            # The cursor moves in the same transaction as the messages it covers.
            folder.save(update_fields=move_cursor(folder, [uid for uid, _ in batch]))
            if arrived:
                pipeline.messages_arrived(arrived, folder.mailbox_id)
        summary.fetched += len(fetched)
        summary.new += len(arrived)
        done += len(batch)
        if progress:
            progress(done, len(uids))


def _pipelined(client, batches: list[list[tuple[int, int]]]) -> Iterator[tuple[Prepared, Staged]]:
    """Each batch fetched and hashed (`ingest.prepare`, in the fetch thread), and its
    new raw bytes staged (`rawstore.stage`, in the pack thread), ahead of its rows.
    Which bytes are new is asked in the caller's thread, the only one that uses the
    database."""

    def stage(prepared: Prepared, writer: rawstore.PackWriter) -> Callable[[], tuple]:
        raws = dict(zip(prepared.shas, (f.raw for f in prepared.fetched), strict=True))
        new = rawstore.unknown(raws)
        return lambda: (prepared, rawstore.stage(new, writer))

    return _overlapped(client, batches, _fetch_prepared, stage, rawstore.pack_writer())


def _staged(
    client, batches: list[list[tuple[int, int]]]
) -> Iterator[tuple[list[FetchedMessage], tuple[str, list[int]]]]:
    """Each batch fetched, and written to a pack and fsynced, ahead of its FetchedBatch
    row: (messages, (pack, offset of each)). Hashing and identities wait for `record`."""

    def stage(fetched: list[FetchedMessage], writer: rawstore.PackWriter) -> Callable[[], tuple]:
        return lambda: (fetched, writer.append([f.raw for f in fetched]))

    # Megabytes a batch, read back once by `record`: written past the page cache.
    writer = rawstore.pack_writer(direct=True)
    try:
        yield from _overlapped(client, batches, _fetch_all, stage, writer)
    finally:
        writer.release_buffer()  # the pack thread is done with it: its thread has ended


def _overlapped(
    client,
    batches: list[list[tuple[int, int]]],
    fetch: Callable[[object, list[tuple[int, int]]], object],
    stage: Callable[[object, rawstore.PackWriter], Callable[[], tuple]],
    writer: rawstore.PackWriter,
) -> Iterator[tuple]:
    """What each batch's `stage` work returns, batch after batch, three stages overlapping.

    Each stage in its own thread: a fetch thread runs `fetch` on the batches to come; a
    pack thread runs the work `stage(fetched, writer)` returns (it writes and fsyncs the
    next batch's bytes with `writer`, one of the caller's thread: a sync adds to its
    thread's pack instead of starting one); the caller commits this one. The socket,
    hashing, writes, fsync and SQLite all release the GIL, so network, disk and database
    work at once. Only the fetch thread uses the IMAP connection. At most FETCH_AHEAD
    batches wait in memory.
    """
    if not batches:
        return
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch") as fetcher,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="pack") as packer,
    ):
        fetching = deque(fetcher.submit(fetch, client, b) for b in batches[:FETCH_AHEAD])
        later = iter(batches[FETCH_AHEAD:])
        staging: deque[Future] = deque()

        def hand_over() -> None:
            fetched = fetching.popleft().result()
            if (batch := next(later, None)) is not None:
                fetching.append(fetcher.submit(fetch, client, batch))
            staging.append(packer.submit(stage(fetched, writer)))

        hand_over()
        while staging:
            if fetching:
                hand_over()  # the next batch's bytes are written while this one commits
            yield staging.popleft().result()


def _reconcile(client, folder: Folder, status: imap.FolderStatus) -> None:
    """Flags changed and messages deleted on the server since the last look.

    With CONDSTORE only what changed since the stored HIGHESTMODSEQ is read, and an
    unchanged HIGHESTMODSEQ costs nothing; without it, every flag is compared.
    """
    if folder.last_uid < 1:
        return
    condstore = status.highest_modseq is not None and folder.highest_modseq is not None
    if condstore and folder.highest_modseq == status.highest_modseq:
        return
    changed = imap.flags_since(
        client, folder.last_uid, folder.highest_modseq if condstore else None
    )
    present = set(imap.search_uids(client, f"UID 1:{folder.last_uid}"))
    with transaction.atomic():
        copies = MessageCopy.objects.filter(folder=folder, uidvalidity=status.uidvalidity)
        gone = copies.exclude(uid__in=present) if len(present) < 30000 else None
        if gone is None:  # too many for one IN (...): compare in Python instead
            stored = set(copies.values_list("uid", flat=True))
            gone = copies.filter(uid__in=list(stored - present))
        removed = _remove_copies(gone, folder.mailbox_id)
        # Compare in Python and write only what differs: without CONDSTORE `changed`
        # holds every message of the folder.
        uids = list(changed)
        stale = []
        for start in range(0, len(uids), 5000):
            for copy in copies.filter(uid__in=uids[start : start + 5000]).only("uid", "flags"):
                flags = list(changed[copy.uid])
                if copy.flags != flags:
                    copy.flags, copy.is_seen = flags, "\\Seen" in flags
                    stale.append(copy)
        MessageCopy.objects.bulk_update(stale, ["flags", "is_seen"], batch_size=500)
        folder.highest_modseq = status.highest_modseq
        folder.save(update_fields=["highest_modseq"])
    if removed or stale:
        logger.info("%s: %s flag change(s), %s deleted on the server", folder, len(stale), removed)


def _fetch_prepared(client, batch: list[tuple[int, int]]) -> Prepared:
    return prepare(_fetch_all(client, batch))


def _fetch_all(client, batch: list[tuple[int, int]]) -> list[FetchedMessage]:
    """The batch, or, when the server fails it, each message on its own.

    A message the server will not give is stored as a marker that names the error
    (it is quarantined, visible to admins), so one bad message never stops a folder.
    """
    try:
        return list(_fetch_batch(client, batch))
    except imap.SyncError as exc:
        if len(batch) == 1:
            uid = batch[0][0]
            logger.error("uid %s could not be fetched, stored as a marker: %s", uid, exc)
            return [FetchedMessage(uid=uid, raw=fetch_error_marker(uid, str(exc)))]
        logger.warning("a batch fetch failed (%s); fetching its messages one by one", exc)
        return [fetched for one in batch for fetched in _fetch_all(client, [one])]


def _batches(sizes: dict[int, int], uids: list[int]) -> Iterator[list[tuple[int, int]]]:
    """(uid, size) batches bounded by message count and bytes, in UID order."""
    batch: list[tuple[int, int]] = []
    total, most = 0, settings.POSTROOM["SYNC_BATCH"]
    limit = settings.POSTROOM["MAX_MESSAGE_SIZE"]
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= most or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append((uid, size))
        total += min(size, limit)
    if batch:
        yield batch


def _fetch_batch(client, batch: list[tuple[int, int]]) -> Iterator[FetchedMessage]:
    """Whole messages, except those over the size limit: their headers and a marker."""
    limit = settings.POSTROOM["MAX_MESSAGE_SIZE"]
    yield from imap.fetch(client, [uid for uid, size in batch if size <= limit])
    oversized = {uid: size for uid, size in batch if size > limit}
    for fetched in imap.fetch(client, list(oversized), headers_only=True):
        logger.warning(
            "uid %s is %s bytes, over the limit of %s: only its headers are stored",
            fetched.uid,
            oversized.get(fetched.uid),
            limit,
        )
        yield replace(fetched, truncated_size=oversized.get(fetched.uid))


@contextmanager
def _session(mailbox: Mailbox) -> Iterator:
    """A logged-in connection; the outcome is recorded on the mailbox either way.

    Raises imap.SyncError (after recording it) when the server cannot be used.
    """
    try:
        with imap.connect(server_of(mailbox), timeout=settings.POSTROOM["IMAP_TIMEOUT"]) as client:
            yield client
    except imap.SyncError as exc:
        logger.warning("sync of %s failed: %s", mailbox.address, exc)
        do_record_sync_failure(mailbox, exc.status, str(exc))
        raise
    except (OSError, TimeoutError) as exc:
        # The connection broke mid-sync: what was committed stays, the rest is retried.
        error = imap.Unreachable(f"connection to {mailbox.imap_host} lost: {exc}")
        do_record_sync_failure(mailbox, error.status, str(error))
        raise error from exc
    do_record_sync_success(mailbox)


def sync_mailbox(mailbox: Mailbox, *, progress: Progress | None = None) -> SyncSummary:
    """Fetch what is new in every synced folder of the mailbox."""
    total = SyncSummary()
    with _session(mailbox) as client:
        for folder in mailbox.folders.filter(is_synced=True):
            summary = sync_folder(client, folder, progress=progress)
            total.folders += summary.folders
            total.fetched += summary.fetched
            total.new += summary.new
            total.staged += summary.staged
    return total


# A worker's sync run takes at most this many batches, then yields its thread.
BATCHES_PER_RUN = 10


def sync_folder_by_id(folder_id: int) -> bool:
    """One bounded sync run of a folder for the worker; True when there is more to fetch."""
    folder = Folder.objects.select_related("mailbox").get(pk=folder_id)
    with _session(folder.mailbox) as client:
        summary = sync_folder(client, folder, max_batches=BATCHES_PER_RUN)
    if summary.new or summary.staged:
        logger.info("%s: %s", folder, summary)
    return summary.more


def discover_folders(mailbox: Mailbox) -> list[Folder]:
    """Read the server's folders and their roles into the mailbox."""
    with _session(mailbox) as client:
        remote = imap.list_folders(client)
    return do_update_folders(mailbox, [(f.name, f.role) for f in remote])


def delete_on_server(copy: MessageCopy) -> None:
    """Move a message to the server's Trash (from Trash: delete it) and forget the copy.

    The mailbox's next sync of Trash, when Trash is synced, brings the new copy in.
    """
    folder, mailbox = copy.folder, copy.mailbox
    trash = mailbox.folders.filter(role=Folder.Role.TRASH).first()
    if trash is None:
        raise imap.SyncError(f"{mailbox.address} has no Trash folder to move the message to")
    with _session(mailbox) as client:
        status = imap.select(client, folder.name, writable=True)
        if status.uidvalidity != copy.uidvalidity:
            raise imap.SyncError(f"{folder} was renumbered since: sync it, then try again")
        if folder.pk == trash.pk:
            imap.expunge(client, copy.uid)  # deleting from Trash deletes for good
        else:
            imap.move(client, copy.uid, trash.name)
    _remove_copies(MessageCopy.objects.filter(pk=copy.pk), mailbox.pk)


def delete_from_mailbox(message_id: int, mailbox: Mailbox) -> int:
    """Delete a message from a mailbox: to the server's Trash, or forgotten when only
    Postroom holds it (mail from the ingress or the Outbox); returns the copies removed."""
    copies = MessageCopy.objects.filter(message_id=message_id, mailbox=mailbox)
    removed = 0
    for copy in copies.select_related("folder", "mailbox"):
        if mailbox.has_imap and copy.folder.is_synced:
            delete_on_server(copy)
        else:
            _remove_copies(MessageCopy.objects.filter(pk=copy.pk), mailbox.pk)
        removed += 1
    return removed


def _remove_copies(copies, mailbox_id: int) -> int:
    """Delete `copies` (of one mailbox) and recount their conversations; how many went."""
    with transaction.atomic():
        message_ids = set(copies.values_list("message_id", flat=True))
        removed = copies.delete()[0]
        copies_removed(mailbox_id, message_ids)
    return removed
