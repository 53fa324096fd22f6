"""Storing what sync fetched, then parsing it: the first steps of the path of one email.

`store_copies` runs inside the sync worker's transaction and does the least possible
(raw bytes, identity, the copy) so the cursor can move; `parse_stored` runs later as
a job and may fail without losing anything: a failure is a quarantine, not an error.
"""

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from django.db import DatabaseError, transaction

from postroom import webhooks
from postroom.mailboxes.models import Folder, Mailbox

from . import ahead, rawstore
from .attachments import store_attachments
from .bounds import STORED_BODY_CHARS, cut
from .bulk import insert_ignoring_conflicts, insert_returning, select_in, update_rows
from .models import Attachment, AttachmentBlob, Message, MessageCopy
from .parse import (
    Envelope,
    ParsedAttachment,
    ParsedMessage,
    ParseError,
    content_hash,
    parse_message,
    read_identity,
)
from .search import index_messages, indexed_bodies
from .threads import rethread, thread_messages

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchedMessage:
    """One message as the server gave it."""

    uid: int
    raw: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None
    # Set when the message was over the size limit and only its headers were fetched.
    truncated_size: int | None = None


def fetch_error_marker(uid: int, error: str) -> bytes:
    """What is stored for a message whose bytes could not be had: not an email (no From,
    Date, Subject or Message-ID), so parsing quarantines it. Without a Message-ID its
    identity is the hash of its body, so the body names the UID: each marker is a
    message of its own."""
    reason = f"uid {uid}: {' '.join(error.split())[:900]}"
    return f"X-Postroom-Fetch-Error: {reason}\r\n\r\n{reason}\r\n".encode("utf-8", "replace")


@dataclass(frozen=True)
class Prepared:
    """What store_copies reads from a batch's bytes before it writes: each message's
    SHA-256 and envelope. Computed by `prepare`, e.g. in the thread that fetched the
    batch, while the previous batch is being written: hashing releases the GIL for each
    message, and a thread that must win it back from a busy writer waits for it."""

    fetched: list[FetchedMessage]
    shas: list[str]
    envelopes: list[Envelope]


def prepare(batch: list[FetchedMessage]) -> Prepared:
    """The batch without repeated UIDs (the last wins), with hashes and envelopes."""
    fresh = list({f.uid: f for f in batch}.values())
    return Prepared(
        fresh, [rawstore.sha256_of(f.raw) for f in fresh], [read_identity(f.raw) for f in fresh]
    )


def store_copies(
    folder: Folder,
    uidvalidity: int,
    batch: list[FetchedMessage] | Prepared,
    staged: rawstore.Staged | None = None,
) -> list[int]:
    """Record a batch of fetched messages in `folder`; return the ids of newly seen messages.

    Set-based because an initial sync stores tens of thousands of messages a minute: one
    query for the identities already known and three multi-row INSERTs (raw bytes,
    messages, copies) per batch, whatever its size. Runs in the caller's transaction. A
    UID stored already (a re-fetch after a crash) is skipped by the copy's unique key;
    its message is not reported again. `batch` may come `prepare`d, and its raw bytes
    `staged` (rawstore.stage of those rawstore.unknown found new) by another thread.
    """
    prepared = batch if isinstance(batch, Prepared) else prepare(batch)
    fresh, shas, envelopes = prepared.fetched, prepared.shas, prepared.envelopes
    if not fresh:
        return []
    identities, hashes, ids = _identities(fresh, envelopes)
    if staged is None:
        rawstore.put_many(dict(zip(shas, (f.raw for f in fresh), strict=True)))
    else:
        rawstore.record(staged)
    # The same email may be stored already, from this or another mailbox: skipped.
    new = (
        (i, e.message_id, h, sha, len(f.raw), f.internal_date, f.truncated_size)
        for f, sha, e, i, h in zip(fresh, shas, envelopes, identities, hashes, strict=True)
        if i not in ids
    )
    ids.update(
        (identity, pk)
        for pk, identity in insert_returning(
            Message,
            [
                "identity",
                "message_id",
                "content_hash",
                "raw_sha256",
                "raw_size",
                "received_at",
                "truncated_size",
            ],
            _first_per_identity(new),
            returning=["id", "identity"],
        )
    )
    if missing := set(identities) - ids.keys():  # inserted meanwhile by another worker
        ids.update(Message.objects.filter(identity__in=missing).values_list("identity", "pk"))
    stored = insert_returning(
        MessageCopy,
        ["message", "mailbox", "folder", "uidvalidity", "uid", "flags", "is_seen", "internal_date"],
        (
            (
                ids[identity],
                folder.mailbox_id,
                folder.pk,
                uidvalidity,
                f.uid,
                f.flags,
                "\\Seen" in f.flags,
                f.internal_date,
            )
            for f, identity in zip(fresh, identities, strict=True)
        ),
        returning=["uid"],
    )
    new_uids = {uid for (uid,) in stored}
    return list(
        dict.fromkeys(
            ids[identity]
            for f, identity in zip(fresh, identities, strict=True)
            if f.uid in new_uids
        )
    )


def _first_per_identity(rows: Iterable[tuple]) -> list[tuple]:
    """One row per identity (the first): the same email twice in one batch is one Message."""
    first: dict[str, tuple] = {}
    for row in rows:
        first.setdefault(row[0], row)
    return list(first.values())


def _identities(
    fresh: list[FetchedMessage], envelopes: list[Envelope]
) -> tuple[list[str], list[str], dict[str, int]]:
    """Each message's identity and content hash ("" where not computed), and the ids of
    the identities stored already.

    The identity is the Message-ID, unless that names a different email: some mailers
    send every email with the same Message-ID. An email whose Message-ID is taken by one
    with another content hash (in the database or earlier in this batch) gets an identity
    of its own, `mid:<id>#<hash prefix>`, so it is not merged into the first; a second
    copy of it gets the same one and is deduplicated. Content hashes are computed only
    for such a meeting of two emails with one Message-ID (the stored one's from its raw
    bytes when the ingest job has not filled it in yet). Header-only copies (over the
    size limit) cannot be compared and keep the Message-ID's identity. One query per
    batch, on the unique index.
    """
    hashes = [e.content_hash for e in envelopes]

    def hash_of(index: int) -> str:
        if not hashes[index]:
            hashes[index] = content_hash(fresh[index].raw)
        return hashes[index]

    comparable = [
        not f.truncated_size and bool(e.message_id) for f, e in zip(fresh, envelopes, strict=True)
    ]
    ids: dict[str, int] = {}
    stored: dict[str, str] = {}  # identity -> content hash of the email holding it
    rows = select_in(
        Message,
        "identity",
        list({e.identity for e in envelopes}),
        ["id", "identity", "content_hash", "truncated_size", "raw_sha256"],
    )
    unhashed: dict[str, list[str]] = {}  # raw sha256 -> identities
    for pk, identity, known_hash, truncated, raw_sha256 in rows:
        ids[identity] = pk
        stored[identity] = "" if truncated else known_hash
        if not truncated and not known_hash:
            unhashed.setdefault(raw_sha256, []).append(identity)
    wanted = {e.identity for e, ok in zip(envelopes, comparable, strict=True) if ok}
    if unhashed := {sha: i for sha, i in unhashed.items() if wanted.intersection(i)}:
        filled = []
        for sha, raw in rawstore.get_many(unhashed).items():
            for identity in unhashed[sha]:
                stored[identity] = content_hash(raw)
                filled.append((ids[identity], stored[identity]))
        # Kept, so that the next meeting with these emails costs no read.
        update_rows(Message, ["content_hash"], filled)
    owners: dict[str, str | int] = {}  # identity -> its stored email's hash, or batch index
    identities = []
    for index, (envelope, ok) in enumerate(zip(envelopes, comparable, strict=True)):
        identity = envelope.identity
        if ok:
            owner = owners.setdefault(identity, stored.get(identity, index))
            if owner == index:
                pass  # the first of this Message-ID: nothing to compare with
            elif (other := hash_of(owner) if isinstance(owner, int) else owner) and (
                other != hash_of(index)
            ):
                identity = replace(envelope, content_hash=hash_of(index)).reused_identity
        identities.append(identity)
    return identities, hashes, ids


def store_copy(folder: Folder, uidvalidity: int, fetched: FetchedMessage) -> MessageCopy | None:
    """Record one message in `folder`; None if this UID was already known."""
    if not store_copies(folder, uidvalidity, [fetched]):
        return None
    return MessageCopy.objects.select_related("message").get(
        folder=folder, uidvalidity=uidvalidity, uid=fetched.uid
    )


def parse_stored(message: Message) -> Message:
    """Parse a stored message in place; a message that cannot be parsed is quarantined.

    Quarantine keeps the raw bytes and says why; nothing here raises for a bad message,
    so one broken email never stops the job that parses the rest.
    """
    if message.status != Message.Status.RECEIVED:
        return message
    try:
        parsed = parse_message(rawstore.get(message.raw_sha256))
    except rawstore.Unreadable as exc:  # a missing or damaged pack: says which, and why
        return _quarantine(message, str(exc))
    except ParseError as exc:
        return _quarantine(message, str(exc))
    except Exception as exc:  # a parser bug: the message waits for the fix, the rest goes on
        logger.exception("parsing message %s failed", message.pk)
        return _quarantine(message, f"internal error while parsing: {exc!r}")
    _apply(message, parsed)
    message.bounce_of_id = _bounced(parsed.bounced_message_id, message)
    try:
        with transaction.atomic():
            message.save()
            store_attachments(message, parsed.attachments)
    except DatabaseError as exc:
        logger.exception("storing parsed message %s failed", message.pk)
        message.refresh_from_db()
        return _quarantine(message, f"the parsed message could not be stored: {exc}")
    return message


# What parsing writes to a message (ingest_messages writes them set-wise).
_PARSED_FIELDS = (
    "subject",
    "from_name",
    "from_address",
    "to_addresses",
    "cc_addresses",
    "date",
    "in_reply_to",
    "references",
    "text_body",
    "html_body",
    "body_truncated",
    "kind",
    "thread_index",
    "bounce_of",
    "content_hash",
    "status",
    "error",
)
_FIELDS = [Message._meta.get_field(name) for name in _PARSED_FIELDS]


def ingest_messages(message_ids: Sequence[int], mailbox: Mailbox) -> list[Message]:
    """Parse, thread into `mailbox` and index a batch of stored messages, set-wise.

    Parsing runs before the transaction (it needs no lock); then one transaction writes
    every parsed message, its attachments, its conversation and its search entry with a
    handful of statements for the whole batch. A message that cannot be parsed is
    quarantined and threaded like the rest; if writing the batch fails, each message is
    ingested on its own, so one bad message never holds up the others. Idempotent:
    parsed messages are not parsed again, threaded ones keep their conversation.
    """
    messages = list(Message.objects.filter(pk__in=message_ids).order_by("pk"))
    pending = [m for m in messages if m.status == Message.Status.RECEIVED]
    unreadable: dict[str, str] = {}
    raws = rawstore.get_many((m.raw_sha256 for m in pending), errors=unreadable)
    # Parsed in the pool's processes (ahead, since the record job, or now beside this
    # one) when the batch is big, with each body's indexed words.
    outcomes = ahead.parse_all(raws)
    parts = {
        m.pk: _parse_into(
            m, raws.get(m.raw_sha256), unreadable.get(m.raw_sha256), outcomes.get(m.raw_sha256)
        )
        for m in pending
    }
    # The bodies' words are read before the write lock is taken: SQLite has one writer,
    # and the sync worker's lease heartbeat waits behind whoever holds it.
    bodies = {
        m.pk: words
        for m in pending
        if m.status == Message.Status.PARSED
        and (words := getattr(outcomes.get(m.raw_sha256), "body_words", None)) is not None
    }
    bodies.update(indexed_bodies([m for m in pending if m.pk not in bodies]))
    try:
        with transaction.atomic():
            _write_parsed(pending, parts)
            thread_messages(messages, mailbox)
            webhooks.emit("message.received", *pending, mailbox=mailbox)
            index_messages(pending, bodies)
    except Exception:  # the database refused one of them, or a bug: isolate the culprit
        logger.exception("ingesting a batch of %s failed; one message at a time", len(messages))
        return [_ingest_one(pk, mailbox) for pk in (m.pk for m in messages)]
    return messages


def _parse_into(
    message: Message,
    raw: bytes | None,
    unreadable: str | None = None,
    outcome: ahead.Parsed | None = None,
) -> ParsedMessage | None:
    """Set the parsed fields (or the quarantine) on `message`; what was parsed (here, or
    the `outcome` of parse_message on the same bytes in a worker process)."""
    if raw is None:
        message.status = Message.Status.QUARANTINED
        message.error = unreadable or "the raw bytes are missing"
        return None
    try:
        if outcome is None:
            parsed = parse_message(raw)
        elif outcome.error is not None:
            raise outcome.error  # as parse_message raised it, its traceback in a note
        else:
            parsed = outcome.parsed
    except ParseError as exc:
        message.status, message.error = Message.Status.QUARANTINED, str(exc)
        return None
    except Exception as exc:  # a parser bug: the message waits for the fix, the rest goes on
        logger.exception("parsing message %s failed", message.pk)
        message.status = Message.Status.QUARANTINED
        message.error = f"internal error while parsing: {exc!r}"
        return None
    _apply(message, parsed)
    if not message.content_hash and not message.truncated_size:
        # Kept for the next email with this Message-ID: see store_copies.
        message.content_hash = outcome.content_hash if outcome else content_hash(raw)
    return parsed


def _apply(message: Message, parsed: ParsedMessage) -> None:
    message.subject = parsed.subject[:10000]
    message.from_name = parsed.from_name[:500]
    message.from_address = parsed.from_address[:320]
    message.to_addresses = parsed.to
    message.cc_addresses = parsed.cc
    message.date = parsed.date
    message.in_reply_to = parsed.in_reply_to[:998]
    message.references = parsed.references
    message.text_body, text_cut = cut(parsed.text, STORED_BODY_CHARS)
    message.html_body, html_cut = cut(parsed.html, STORED_BODY_CHARS)
    message.body_truncated = text_cut or html_cut
    message.kind = parsed.kind
    message.thread_index = parsed.thread_index
    # A parsed email's error is what a reader should know of how it was read (a sender
    # taken from Reply-To for want of a From); empty for nearly all.
    message.status, message.error = Message.Status.PARSED, parsed.notice


def _write_parsed(pending: list[Message], parts: dict[int, ParsedMessage | None]) -> None:
    """Write what parsing found, for those still unparsed (another job may have won)."""
    if not pending:
        return
    locked = set(
        Message.objects.select_for_update()
        .filter(pk__in=[m.pk for m in pending], status=Message.Status.RECEIVED)
        .values_list("pk", flat=True)
    )
    mine = [m for m in pending if m.pk in locked]
    bounced = {m.pk: p.bounced_message_id[:998] for m in mine if (p := parts[m.pk])}
    bounces = {b for b in bounced.values() if b}
    first: dict[str, int] = {}
    if bounces:
        for message_id, pk in (
            Message.objects.filter(message_id__in=bounces)
            .order_by("pk")
            .values_list("message_id", "pk")
        ):
            first.setdefault(message_id, pk)
    for message in mine:
        target = first.get(bounced.get(message.pk, ""))
        message.bounce_of_id = target if target != message.pk else None
    update_rows(
        Message,
        _PARSED_FIELDS,
        ((m.pk, *[getattr(m, f.attname) for f in _FIELDS]) for m in mine),
    )
    _store_attachments(mine, {pk: p.attachments for pk, p in parts.items() if p})
    for message in pending:
        if message.pk not in locked:  # parsed meanwhile: take what was stored
            message.refresh_from_db()


def _store_attachments(messages: list[Message], parts: dict[int, list[ParsedAttachment]]) -> None:
    """Attachments of the batch: rows replaced, bytes stored once by SHA-256."""
    Attachment.objects.filter(message__in=[m.pk for m in messages]).delete()
    rows, blobs = [], {}
    for message in messages:
        for position, part in enumerate(parts.get(message.pk, []), start=1):
            sha = hashlib.sha256(part.data).hexdigest()
            blobs[sha] = part.data
            rows.append(
                (
                    message.pk,
                    position,
                    part.filename[:255],
                    part.content_type[:255],
                    len(part.data),
                    sha,
                    part.content_id[:998],
                    part.is_inline,
                )
            )
    if rows:
        insert_ignoring_conflicts(AttachmentBlob, ["sha256", "data"], blobs.items())
        insert_ignoring_conflicts(
            Attachment,
            [
                "message",
                "position",
                "filename",
                "content_type",
                "size",
                "sha256",
                "content_id",
                "is_inline",
            ],
            rows,
        )


def _ingest_one(message_id: int, mailbox: Mailbox) -> Message:
    """The slow path for one message: parse, thread and index it in a transaction of its
    own; a failure quarantines it with the error."""
    try:
        with transaction.atomic():
            message = parse_stored(Message.objects.select_for_update().get(pk=message_id))
            # A quarantined message is threaded too, so that it shows in its mailbox
            # with the parser's error instead of vanishing; it never reaches the CRM.
            thread_messages([message], mailbox)
            webhooks.emit("message.received", message, mailbox=mailbox)
            index_messages([message])
    except Exception as exc:
        logger.exception("ingest of message %s failed", message_id)
        Message.objects.filter(pk=message_id).update(
            status=Message.Status.QUARANTINED, error=f"internal error while parsing: {exc!r}"
        )
        return Message.objects.get(pk=message_id)
    return message


def quarantine_unparsed(message_ids: Sequence[int], mailbox: Mailbox, error: str) -> None:
    """Quarantine those of the messages still unparsed, threaded into `mailbox` so that
    it shows them with the error."""
    with transaction.atomic():
        stuck = list(
            Message.objects.select_for_update().filter(
                pk__in=message_ids, status=Message.Status.RECEIVED
            )
        )
        for message in stuck:
            message.status, message.error = Message.Status.QUARANTINED, error
        update_rows(Message, ["status", "error"], ((m.pk, m.status, m.error) for m in stuck))
        thread_messages(stuck, mailbox)
    for message in stuck:
        logger.warning("quarantined message %s: %s", message.pk, error)


def _quarantine(message: Message, error: str) -> Message:
    message.status, message.error = Message.Status.QUARANTINED, error
    message.save(update_fields=["status", "error"])
    logger.warning("quarantined message %s: %s", message.pk, error)
    return message


def _bounced(message_id: str, bounce: Message) -> int | None:
    """The id of the email a bounce reports, when Postroom has it."""
    if not message_id:
        return None
    return (
        Message.objects.filter(message_id=message_id[:998])
        .exclude(pk=bounce.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )


def reprocess(message: Message) -> Message:
    """Parse a quarantined message again, e.g. after a parser fix.

    A message that parses now is threaded again in every mailbox holding it: its
    headers may place it in another conversation than the one it was shown in.
    """
    message.status, message.error = Message.Status.RECEIVED, ""
    message = parse_stored(message)
    if message.status == Message.Status.PARSED:
        rethread(message)
    return message
