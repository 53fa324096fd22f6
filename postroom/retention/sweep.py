"""The real run: remove what the rules say, in batches, one transaction each.

A batch takes up to POSTROOM_RETENTION_BATCH expired copies of one mailbox and, in one
transaction: writes a RetentionRemoval row for each (what, when, which rule), deletes
the copies, recounts their conversations, purges the emails no mailbox holds any more
(postroom.mail.purge: attachments, search entries, raw rows and blobs no kept email
shares) and deletes conversations left without any email; then it adds what it freed
to the run's counters and the packs that lost bytes to the run's list. So a run
killed between batches, or inside one, has removed whole batches only, logged and
counted once; started again it finds what is left by the same query. Pack files are
compacted at the end (postroom.retention.packs), each step resumable too.

Nothing is ever removed from the mail server: only Postroom's copies go.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from postroom.crm.models import TimelineEntry
from postroom.mail.models import (
    Attachment,
    AttachmentBlob,
    Conversation,
    ConversationMessage,
    Message,
    MessageCopy,
    RawMessage,
)
from postroom.mail.purge import purge_messages
from postroom.mail.threads import copies_removed
from postroom.mailboxes.models import Mailbox
from postroom.routing.models import SlaClock

from . import packs, saved_plan
from .models import RetentionRemoval, RetentionRun
from .planning import all_rules, chunks, dry_run
from .rules import Rule, expired_copies, unlinked_rule

logger = logging.getLogger(__name__)

# Called after each committed batch (tests inject a failure here to stand for a kill).
AfterBatch = Callable[[RetentionRun], None]


def rules_of(run: RetentionRun) -> list[Rule]:
    """The rules a run applies, in the order it applies them."""
    why = run.get_trigger_display().lower()
    if run.message_ids:
        holding = Mailbox.objects.filter(copies__message_id__in=run.message_ids).distinct()
        return [
            unlinked_rule(m, why=why, message_ids=run.message_ids)
            for m in sorted(holding, key=lambda m: m.pk)
        ]
    if run.all_unlinked:
        return [] if run.mailbox is None else [unlinked_rule(run.mailbox, why=why)]
    if run.mailbox is not None:
        return all_rules([run.mailbox])
    return all_rules()


def request_run(
    trigger: str,
    *,
    user=None,
    mailbox: Mailbox | None = None,
    all_unlinked: bool = False,
    message_ids=(),
    note: str = "",
    enqueue: bool = True,
    plan_now: bool = True,
) -> RetentionRun:
    """Create a run with its dry run's figures, and queue its job once committed.
    `plan_now` False leaves the dry run to the job (it takes tens of seconds at a
    million messages): a page that starts a run answers at once."""
    run = RetentionRun(
        trigger=trigger,
        requested_by=user if user is not None and user.is_authenticated else None,
        mailbox=mailbox,
        all_unlinked=all_unlinked,
        message_ids=sorted(set(message_ids)),
        note=note,
    )
    if plan_now:
        plan = dry_run(rules_of(run))
        run.planned_copies, run.planned_bytes = plan.copies, plan.bytes
    run.save()
    if enqueue:
        from .jobs import run_retention

        transaction.on_commit(lambda: run_retention.enqueue(run.pk))
    logger.info(
        "%s queued: %s copies, %s bytes planned", run, run.planned_copies, run.planned_bytes
    )
    return run


def unfinished_runs():
    return RetentionRun.objects.exclude(state=RetentionRun.State.DONE).order_by("pk")


def execute(run_id: int, *, after_batch: AfterBatch | None = None) -> RetentionRun | None:
    """Carry a run out, or on from where it stopped; a finished run is left alone."""
    run = RetentionRun.objects.filter(pk=run_id).first()
    if run is None or run.state == RetentionRun.State.DONE:
        return run
    RetentionRun.objects.filter(pk=run.pk).update(
        state=RetentionRun.State.RUNNING, started_at=Coalesce(F("started_at"), timezone.now())
    )
    size = max(1, settings.POSTROOM["RETENTION_BATCH"])
    pause = settings.POSTROOM["RETENTION_PAUSE"]
    try:
        if run.planned_copies is None:
            # Asked without its dry run: the figures before the first batch, once.
            plan = dry_run(rules_of(run))
            RetentionRun.objects.filter(pk=run.pk).update(
                planned_copies=plan.copies, planned_bytes=plan.bytes
            )
        for rule in rules_of(run):
            while _batch(run, rule, size):
                if after_batch is not None:
                    after_batch(run)
                if pause:
                    time.sleep(pause)
        if run.message_ids:
            _purge_held_by_none(run)
        packs.compact_run(run)
    except Exception as exc:
        RetentionRun.objects.filter(pk=run.pk).update(
            state=RetentionRun.State.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        logger.exception("%s failed; it goes on from where it stopped when run again", run)
        raise
    RetentionRun.objects.filter(pk=run.pk).update(
        state=RetentionRun.State.DONE, finished_at=timezone.now(), error=""
    )
    run.refresh_from_db()
    saved_plan.outdated()  # the page's plan no longer holds what went
    logger.info(
        "%s done: %s copies and %s emails removed, %s bytes freed, %s pack(s) compacted",
        run,
        run.copies_removed,
        run.messages_removed,
        run.bytes_freed,
        run.packs_compacted,
    )
    return run


def _batch(run: RetentionRun, rule: Rule, size: int) -> int:
    """Remove one batch of the rule's copies; how many went (0: the rule is done)."""
    with transaction.atomic():
        # A write first: SQLite takes its write lock here, so the copies read below
        # cannot change before they are deleted (PostgreSQL: FOR UPDATE locks them).
        RetentionRun.objects.filter(pk=run.pk).update(state=RetentionRun.State.RUNNING)
        # Oldest first along the (mailbox, internal_date) index: the scan stops at the
        # batch's size instead of reading and sorting every copy of the mailbox (a
        # mailbox's copies lie one per heap page among others'); only the copies are
        # locked, not their emails (bench/million.py: 27x fewer buffers per batch).
        rows = list(
            expired_copies(rule)
            .select_for_update(of=("self",))
            .order_by("internal_date", "pk")
            .values_list(
                "pk", "message_id", "internal_date", "message__identity", "message__raw_size"
            )[:size]
        )
        if not rows:
            return 0
        copy_ids = [row[0] for row in rows]
        message_ids = sorted({row[1] for row in rows})
        mailbox = rule.mailbox
        conversations = set(
            ConversationMessage.objects.filter(
                mailbox=mailbox, message_id__in=message_ids
            ).values_list("conversation_id", flat=True)
        )
        MessageCopy.objects.filter(pk__in=copy_ids).delete()
        copies_removed(mailbox.pk, message_ids)
        gone = list(
            Message.objects.filter(pk__in=message_ids, copies__isnull=True).values_list(
                "pk", flat=True
            )
        )
        freed = _purge(gone)
        _drop_empty_conversations(conversations)
        now = timezone.now()
        gone_set = set(gone)
        RetentionRemoval.objects.bulk_create(
            RetentionRemoval(
                run=run,
                mailbox=mailbox,
                mailbox_address=mailbox.address,
                message_pk=message_id,
                message_identity=identity[:255],
                rule=rule.label[:200],
                received_at=received,
                removed_at=now,
                raw_size=raw_size,
                message_removed=message_id in gone_set,
            )
            for _, message_id, received, identity, raw_size in rows
        )
        _count(run, copies=len(rows), messages=len(gone), freed=freed)
    logger.info(
        "%s: %s copies removed from %s by rule %r, %s emails left Postroom",
        run,
        len(rows),
        mailbox.address,
        rule.label,
        len(gone),
    )
    return len(rows)


class Freed:
    def __init__(self) -> None:
        self.raw = 0
        self.raw_bytes = 0
        self.blobs = 0
        self.blob_bytes = 0
        self.packs: set[str] = set()


def _purge(message_ids: list[int]) -> Freed:
    """Purge emails no mailbox holds (in the caller's transaction) and say what bytes
    went with them: those no kept email shares."""
    freed = Freed()
    if not message_ids:
        return freed
    raw_shas = set(Message.objects.filter(pk__in=message_ids).values_list("raw_sha256", flat=True))
    raws = {
        sha: (size or 0, pack)
        for sha, size, pack in RawMessage.objects.filter(sha256__in=raw_shas).values_list(
            "sha256", Coalesce("size", Length("data")), "pack"
        )
    }
    blob_shas = set(
        Attachment.objects.filter(message_id__in=message_ids).values_list("sha256", flat=True)
    )
    blobs = dict(
        AttachmentBlob.objects.filter(sha256__in=blob_shas).values_list("sha256", Length("data"))
    )
    purge_messages(message_ids)
    kept_raw = set(RawMessage.objects.filter(sha256__in=raws).values_list("sha256", flat=True))
    for sha, (size, pack) in raws.items():
        if sha not in kept_raw:
            freed.raw += 1
            freed.raw_bytes += size
            if pack:
                freed.packs.add(pack)
    kept_blobs = set(
        AttachmentBlob.objects.filter(sha256__in=blobs).values_list("sha256", flat=True)
    )
    for sha, size in blobs.items():
        if sha not in kept_blobs:
            freed.blobs += 1
            freed.blob_bytes += size or 0
    return freed


def _drop_empty_conversations(conversation_ids: set[int]) -> None:
    """Conversations none of whose emails is left in Postroom go with their history."""
    if conversation_ids:
        links = ConversationMessage.objects.filter(conversation=OuterRef("pk"))
        Conversation.objects.filter(pk__in=conversation_ids).exclude(Exists(links)).delete()


def _count(run: RetentionRun, *, copies: int, messages: int, freed: Freed) -> None:
    """Add a batch's figures to the run, in the batch's transaction."""
    current = RetentionRun.objects.select_for_update().get(pk=run.pk)
    current.batches += 1
    current.copies_removed += copies
    current.messages_removed += messages
    current.raw_removed += freed.raw
    current.raw_bytes_freed += freed.raw_bytes
    current.blobs_removed += freed.blobs
    current.blob_bytes_freed += freed.blob_bytes
    current.packs_to_compact = sorted(set(current.packs_to_compact) | freed.packs)
    current.save(
        update_fields=[
            "batches",
            "copies_removed",
            "messages_removed",
            "raw_removed",
            "raw_bytes_freed",
            "blobs_removed",
            "blob_bytes_freed",
            "packs_to_compact",
        ]
    )


def bound_messages(message_ids) -> set[int]:
    """Those of the emails bound to a CRM item or to a task."""
    ids = list(message_ids)
    bound: set[int] = set()
    for part in chunks(ids):
        bound |= set(
            TimelineEntry.objects.filter(activity__message_id__in=part).values_list(
                "activity__message_id", flat=True
            )
        )
        with_task = SlaClock.objects.filter(task__isnull=False).values("conversation_id")
        bound |= set(
            ConversationMessage.objects.filter(
                message_id__in=part, conversation_id__in=with_task
            ).values_list("message_id", flat=True)
        )
    return bound


def _purge_held_by_none(run: RetentionRun) -> None:
    """A deleted task's emails that no mailbox held (kept only for the task) go too."""
    ids = [pk for pk in run.message_ids if pk not in bound_messages(run.message_ids)]
    with transaction.atomic():
        RetentionRun.objects.filter(pk=run.pk).update(state=RetentionRun.State.RUNNING)
        rows = list(
            Message.objects.filter(pk__in=ids, copies__isnull=True).values_list(
                "pk", "identity", "received_at", "raw_size"
            )
        )
        if not rows:
            return
        freed = _purge([row[0] for row in rows])
        now = timezone.now()
        RetentionRemoval.objects.bulk_create(
            RetentionRemoval(
                run=run,
                mailbox_address="",
                message_pk=pk,
                message_identity=identity[:255],
                rule=run.get_trigger_display().lower(),
                received_at=received,
                removed_at=now,
                raw_size=raw_size,
                message_removed=True,
            )
            for pk, identity, received, raw_size in rows
        )
        _count(run, copies=0, messages=len(rows), freed=freed)
