"""What Postroom stores, and whether it is whole.

`report()`: per mailbox, its emails and the bytes of their raw mail and attachments,
growth per month, and what retention freed; the totals stored once (content
addressing: an email two mailboxes hold, or a logo in a thousand emails, counts once
there). `check()`: every email's raw bytes and every attachment's blob are there and
readable where they should be, and no row or file is left over that nothing uses.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Sum
from django.db.models.functions import Coalesce, Length, TruncMonth

from postroom.crm.models import Activity
from postroom.mail import rawstore
from postroom.mail.models import (
    Attachment,
    AttachmentBlob,
    ConversationMessage,
    FetchedBatch,
    Message,
    MessageCopy,
    RawMessage,
)
from postroom.mailboxes.models import Mailbox

from .models import RetentionRemoval, RetentionRun

MONTHS = 12


@dataclass
class MailboxUsage:
    mailbox: Mailbox
    messages: int = 0
    raw_bytes: int = 0
    attachment_bytes: int = 0
    freed_copies: int = 0  # removed by retention, all runs
    months: dict[str, tuple[int, int]] = field(default_factory=dict)  # "2026-11": (n, bytes)

    @property
    def bytes(self) -> int:
        return self.raw_bytes + self.attachment_bytes


@dataclass
class Report:
    mailboxes: list[MailboxUsage]
    months: list[str]
    messages: int  # emails in Postroom, each once
    raw_bytes: int  # raw mail stored, each once
    raw_in_packs: int  # of which in pack files
    attachment_bytes: int  # attachment blobs, each once
    pack_files: int
    pack_disk_bytes: int  # the pack files' size on disk (freed bytes not compacted yet too)
    freed_bytes: int  # by retention, all runs
    freed_disk_bytes: int
    copies_removed: int
    messages_removed: int
    runs: int


def report(now: datetime | None = None) -> Report:
    now = now or datetime.now(UTC)
    first = datetime(now.year, now.month, 1, tzinfo=UTC)
    for _ in range(MONTHS - 1):
        first = datetime(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1, tzinfo=UTC)
    months = []
    cursor = first
    while cursor <= now:
        months.append(cursor.strftime("%Y-%m"))
        cursor = datetime(cursor.year + (cursor.month == 12), cursor.month % 12 + 1, 1, tzinfo=UTC)

    raw_size = Coalesce("message__raw_size", 0)
    usage = {m.pk: MailboxUsage(m) for m in Mailbox.objects.order_by("name", "pk")}
    # One row per (mailbox, email): an email in two folders of one mailbox counts once.
    per_message = (
        MessageCopy.objects.values("mailbox_id", "message_id")
        .annotate(size=raw_size)
        .values_list("mailbox_id", "message_id", "size")
        .distinct()
    )
    for mailbox_id, _message_id, size in per_message.iterator(chunk_size=5000):
        row = usage[mailbox_id]
        row.messages += 1
        row.raw_bytes += size or 0
    attachments = (
        Attachment.objects.filter(
            Exists(MessageCopy.objects.filter(message_id=OuterRef("message_id")))
        )
        .values_list("message_id", "size")
        .iterator(chunk_size=5000)
    )
    attachment_sizes: dict[int, int] = defaultdict(int)
    for message_id, size in attachments:
        attachment_sizes[message_id] += size
    if attachment_sizes:
        pairs = MessageCopy.objects.values_list("mailbox_id", "message_id").distinct()
        for mailbox_id, message_id in pairs.iterator(chunk_size=5000):
            usage[mailbox_id].attachment_bytes += attachment_sizes.get(message_id, 0)
    growth = (
        MessageCopy.objects.filter(internal_date__gte=first)
        .annotate(month=TruncMonth("internal_date", tzinfo=UTC))
        .values("mailbox_id", "month")
        .annotate(n=Count("pk"), size=Sum(raw_size))
    )
    for row in growth:
        usage[row["mailbox_id"]].months[row["month"].strftime("%Y-%m")] = (
            row["n"],
            row["size"] or 0,
        )
    for row in RetentionRemoval.objects.values("mailbox_id").annotate(n=Count("pk")):
        if row["mailbox_id"] in usage:
            usage[row["mailbox_id"]].freed_copies = row["n"]

    raw = RawMessage.objects.aggregate(
        total=Coalesce(Sum(Coalesce("size", Length("data"))), 0),
        packs=Coalesce(Sum("size", filter=~_in_db()), 0),
    )
    runs = RetentionRun.objects.aggregate(
        n=Count("pk"),
        raw=Coalesce(Sum("raw_bytes_freed"), 0),
        blobs=Coalesce(Sum("blob_bytes_freed"), 0),
        disk=Coalesce(Sum("disk_bytes_freed"), 0),
        copies=Coalesce(Sum("copies_removed"), 0),
        messages=Coalesce(Sum("messages_removed"), 0),
    )
    files = pack_files()
    return Report(
        mailboxes=list(usage.values()),
        months=months,
        messages=Message.objects.count(),
        raw_bytes=raw["total"],
        raw_in_packs=raw["packs"],
        attachment_bytes=AttachmentBlob.objects.aggregate(n=Coalesce(Sum(Length("data")), 0))["n"],
        pack_files=len(files),
        pack_disk_bytes=sum(files.values()),
        freed_bytes=runs["raw"] + runs["blobs"],
        freed_disk_bytes=runs["disk"],
        copies_removed=runs["copies"],
        messages_removed=runs["messages"],
        runs=runs["n"],
    )


def _in_db():
    from django.db.models import Q

    return Q(pack__isnull=True)


def pack_files() -> dict[str, int]:
    """{pack name relative to DATA_DIR/raw: size} of every pack file on disk."""
    root = rawstore.root()
    found = {}
    packs = root / "packs"
    if packs.is_dir():
        for directory, _subdirs, names in os.walk(packs):
            for name in names:
                if name.endswith(".pack"):
                    path = os.path.join(directory, name)
                    found[os.path.relpath(path, root)] = os.path.getsize(path)
    return found


# ------------------------------------------------------------------------ check


@dataclass
class Problem:
    kind: str
    what: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.what}"


def check(*, read_bytes: bool = True) -> list[Problem]:
    """Every inconsistency found; empty when storage is whole.

    - missing raw: an email whose raw bytes have no row, or whose pack is missing, short
      or damaged (`read_bytes` reads and hashes every one);
    - missing blob: an attachment whose blob has no row;
    - orphan raw / orphan blob: a row no email or attachment uses;
    - orphan email: an email no mailbox holds, no CRM activity shows and no
      conversation lists (nothing could show it, nothing would remove it);
    - orphan pack: a pack file nothing points at (not one written to within
      POSTROOM_RETENTION_PACK_QUIET seconds: a sync may be about to record it).
    """
    problems: list[Problem] = []
    used_raw = Message.objects.filter(raw_sha256=OuterRef("sha256"))
    for sha in RawMessage.objects.exclude(Exists(used_raw)).values_list("sha256", flat=True):
        problems.append(Problem("orphan raw", f"raw message {sha} is used by no email"))
    has_raw = RawMessage.objects.filter(sha256=OuterRef("raw_sha256"))
    for pk, sha in Message.objects.exclude(Exists(has_raw)).values_list("pk", "raw_sha256"):
        problems.append(Problem("missing raw", f"email {pk}: raw message {sha} is not stored"))
    used_blob = Attachment.objects.filter(sha256=OuterRef("sha256"))
    for sha in AttachmentBlob.objects.exclude(Exists(used_blob)).values_list("sha256", flat=True):
        problems.append(Problem("orphan blob", f"attachment blob {sha} is used by no attachment"))
    has_blob = AttachmentBlob.objects.filter(sha256=OuterRef("sha256"))
    missing = Attachment.objects.exclude(Exists(has_blob)).values_list("pk", "message_id", "sha256")
    for pk, message_id, sha in missing:
        problems.append(
            Problem(
                "missing blob", f"attachment {pk} of email {message_id}: blob {sha} is not stored"
            )
        )
    lonely = (
        Message.objects.exclude(Exists(MessageCopy.objects.filter(message_id=OuterRef("pk"))))
        .exclude(Exists(Activity.objects.filter(message_id=OuterRef("pk"))))
        .exclude(Exists(ConversationMessage.objects.filter(message_id=OuterRef("pk"))))
    )
    for pk in lonely.values_list("pk", flat=True):
        problems.append(
            Problem("orphan email", f"email {pk} is held by no mailbox and no CRM item")
        )
    problems += _check_packs(read_bytes)
    return problems


def _check_packs(read_bytes: bool) -> list[Problem]:
    problems = []
    files = pack_files()
    referenced = set(
        RawMessage.objects.exclude(pack__isnull=True).values_list("pack", flat=True).distinct()
    )
    referenced |= set(FetchedBatch.objects.values_list("pack", flat=True))
    quiet = settings.POSTROOM["RETENTION_PACK_QUIET"]
    root = rawstore.root()
    for name in sorted(set(files) - referenced):
        try:
            age = time.time() - (root / name).stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= quiet:
            problems.append(
                Problem("orphan pack", f"{root / name} ({files[name]} bytes) is used by nothing")
            )
    in_packs = RawMessage.objects.exclude(pack__isnull=True).values_list(
        "sha256", "pack", "pack_offset", "size"
    )
    by_pack: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for sha, pack, offset, size in in_packs.iterator(chunk_size=5000):
        by_pack[pack].append((sha, offset, size))
    for pack, entries in sorted(by_pack.items()):
        if pack not in files:
            for sha, _, _ in entries:
                problems.append(
                    Problem("missing raw", f"raw message {sha}: pack {root / pack} is missing")
                )
            continue
        if not read_bytes:
            for sha, offset, size in entries:
                if offset + size > files[pack]:
                    problems.append(
                        Problem(
                            "missing raw", f"raw message {sha}: pack {root / pack} is too short"
                        )
                    )
            continue
        errors: dict[str, str] = {}
        found: dict[str, bytes] = {}
        rawstore._read_pack(pack, entries, found, errors)  # noqa: SLF001 - its checked reader
        problems += [Problem("missing raw", why) for _, why in sorted(errors.items())]
    return problems
