"""Forgetting emails that no mailbox holds any more.

When someone disconnects their personal mailbox, its copies and conversations go at
once (postroom.mailboxes.personal); the private emails that only it held would stay
behind as rows nobody can see. `purge_messages` deletes them, with their attachments,
search entries and the rows of their raw bytes. What the caller keeps (an email the
CRM shows on a timeline) stays, and so does any email another mailbox still holds.

With the file store the bytes themselves stay in their pack files, unreferenced, like
the bytes a crash leaves behind: packs are append-only (postroom/mail/rawstore.py).
"""

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from django.db import transaction

from .models import Attachment, AttachmentBlob, Message, RawMessage
from .search import unindex

logger = logging.getLogger(__name__)

# Messages per transaction: a mailbox of 100,000 emails is purged in steps that keep
# the write lock short, and a crash between steps leaves the rest for a rerun.
CHUNK = 1000


@dataclass
class Purged:
    messages: int = 0
    raw: int = 0
    attachment_blobs: int = 0


def purge_messages(message_ids: Iterable[int], *, keep: Collection[int] = ()) -> Purged:
    """Delete those of `message_ids` that no mailbox holds (no MessageCopy) and that are
    not in `keep`; idempotent. Returns what went."""
    wanted = sorted(set(message_ids) - set(keep))
    purged = Purged()
    for start in range(0, len(wanted), CHUNK):
        _purge_chunk(wanted[start : start + CHUNK], purged)
    if purged.messages:
        logger.info(
            "purged %s email(s) no mailbox holds, %s raw and %s attachment row(s)",
            purged.messages,
            purged.raw,
            purged.attachment_blobs,
        )
    return purged


@transaction.atomic
def _purge_chunk(ids: list[int], purged: Purged) -> None:
    # Checked in the deleting transaction: a copy stored meanwhile keeps its email.
    orphans = Message.objects.filter(pk__in=ids, copies__isnull=True)
    rows = list(orphans.values_list("pk", "raw_sha256"))
    if not rows:
        return
    gone = [pk for pk, _ in rows]
    raw_shas = {sha for _, sha in rows}
    blob_shas = set(Attachment.objects.filter(message_id__in=gone).values_list("sha256", flat=True))
    unindex(gone)
    # Cascades to attachments and conversation rows; bounces and sent emails that
    # pointed here forget the link (SET_NULL).
    Message.objects.filter(pk__in=gone).delete()
    purged.messages += len(gone)
    # Bytes are stored once however many emails carry them: only unshared rows go.
    shared = set(
        Message.objects.filter(raw_sha256__in=raw_shas).values_list("raw_sha256", flat=True)
    )
    purged.raw += RawMessage.objects.filter(sha256__in=raw_shas - shared).delete()[0]
    shared = set(Attachment.objects.filter(sha256__in=blob_shas).values_list("sha256", flat=True))
    purged.attachment_blobs += AttachmentBlob.objects.filter(
        sha256__in=blob_shas - shared
    ).delete()[0]
