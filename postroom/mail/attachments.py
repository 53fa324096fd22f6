"""Attachments: rows per message, bytes stored once by SHA-256 (the AttachmentBlob table).

Writes happen in the caller's transaction (the ingest job's), so a message is parsed
with all its attachments or not at all.
"""

from __future__ import annotations

import hashlib

from .bulk import insert_ignoring_conflicts
from .models import Attachment, AttachmentBlob, Message
from .parse import ParsedAttachment


def store_attachments(message: Message, parts: list[ParsedAttachment]) -> list[Attachment]:
    """Replace the attachments of `message` with `parts`; idempotent (re-parsing is safe)."""
    Attachment.objects.filter(message=message).delete()
    if not parts:
        return []
    shas = [hashlib.sha256(part.data).hexdigest() for part in parts]
    # The same logo or PDF in a thousand emails is stored once: known blobs are skipped.
    insert_ignoring_conflicts(
        AttachmentBlob,
        ["sha256", "data"],
        dict(zip(shas, (p.data for p in parts), strict=True)).items(),
    )
    return Attachment.objects.bulk_create(
        Attachment(
            message=message,
            position=position,
            filename=part.filename[:255],
            content_type=part.content_type[:255],
            size=len(part.data),
            sha256=sha,
            content_id=part.content_id[:998],
            is_inline=part.is_inline,
        )
        for position, (part, sha) in enumerate(zip(parts, shas, strict=True), start=1)
    )


def read(attachment: Attachment) -> bytes:
    """The bytes of an attachment."""
    return bytes(
        AttachmentBlob.objects.values_list("data", flat=True).get(sha256=attachment.sha256)
    )
