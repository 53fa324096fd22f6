"""Threading messages into a mailbox's Conversations.

A message joins a conversation of its mailbox, in this order of evidence:

1. In-Reply-To and References name a message already in the conversation;
2. it is a bounce of a message in the conversation;
3. Outlook's Thread-Index names the same conversation (Outlook keeps it when a reply
   loses its References, e.g. through some Exchange connectors);
4. the normalised subject is the same (without Re:/AW:/Ответ: prefixes and [ticket]
   tags), the conversation was active within SUBJECT_WINDOW, and the two share a
   correspondent other than the mailbox itself.

Otherwise it starts a conversation.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber

from postroom.mailboxes.models import Mailbox

from .bulk import insert_ignoring_conflicts, insert_returning, update_rows
from .models import Conversation, ConversationMessage, Message, MessageCopy
from .parse import normalize_subject

# How far back a message with only a matching subject may join a conversation.
SUBJECT_WINDOW = timedelta(days=30)


def _by_references(message: Message, mailbox: Mailbox) -> Conversation | None:
    ids = [i for i in [message.in_reply_to, *message.references] if i]
    if not ids:
        return None
    link = (
        ConversationMessage.objects.filter(mailbox=mailbox, message__message_id__in=ids)
        .exclude(message=message)
        .select_related("conversation")
        .first()
    )
    return link.conversation if link else None


def _by_bounce(message: Message, mailbox: Mailbox) -> Conversation | None:
    if message.bounce_of_id is None:
        return None
    link = (
        ConversationMessage.objects.filter(mailbox=mailbox, message_id=message.bounce_of_id)
        .select_related("conversation")
        .first()
    )
    return link.conversation if link else None


def _by_thread_index(message: Message, mailbox: Mailbox) -> Conversation | None:
    if not message.thread_index:
        return None
    link = (
        ConversationMessage.objects.filter(
            mailbox=mailbox, message__thread_index=message.thread_index
        )
        .exclude(message=message)
        .select_related("conversation")
        .first()
    )
    return link.conversation if link else None


def _by_subject(message: Message, mailbox: Mailbox, subject: str) -> Conversation | None:
    if not subject or not message.from_address:
        return None
    since = message.sort_time - SUBJECT_WINDOW
    candidates = Conversation.objects.filter(
        mailbox=mailbox, normalized_subject=subject, last_message_at__gte=since
    ).order_by("-last_message_at")
    # The mailbox's own address is on every message: it proves nothing.
    ours = {mailbox.address}
    correspondents = {message.from_address, *message.to_addresses} - ours
    for conversation in candidates[:5]:
        others = conversation.messages.exclude(pk=message.pk).only("from_address", "to_addresses")
        for other in others[:20]:
            if correspondents & ({other.from_address, *other.to_addresses} - ours):
                return conversation
    return None


def _find(message: Message, mailbox: Mailbox, subject: str) -> Conversation | None:
    return (
        _by_references(message, mailbox)
        or _by_bounce(message, mailbox)
        or _by_thread_index(message, mailbox)
        or _by_subject(message, mailbox, subject)
    )


@transaction.atomic
def thread_message(message: Message, mailbox: Mailbox) -> Conversation:
    """The conversation of `message` in `mailbox`, joining or starting one; idempotent."""
    return Conversation.objects.get(pk=thread_messages([message], mailbox)[message.pk])


@dataclass(eq=False)
class _Thread:
    """A conversation as threading a batch sees it, with what changes in the batch."""

    pk: int | None
    subject: str
    normalized_subject: str
    last_message_at: datetime
    last_sender: str
    message_count: int
    # Correspondents of some of its messages, for matching by subject.
    people: list[set[str]] = field(default_factory=list)
    changed: bool = False


@transaction.atomic
def thread_messages(messages: Sequence[Message], mailbox: Mailbox) -> dict[int, int]:
    """Thread a batch of messages into `mailbox`: {message id: conversation id}.

    The same decisions as one message at a time, in the order given (a reply later in
    the batch joins the conversation its parent started earlier in it), made with a
    handful of queries for the whole batch: the evidence is looked up set-wise first,
    then every message is placed in memory, then conversations and links are written.
    Idempotent: a message threaded already in this mailbox keeps its conversation.
    """
    result = dict(
        ConversationMessage.objects.filter(
            mailbox=mailbox, message_id__in=[m.pk for m in messages]
        ).values_list("message_id", "conversation_id")
    )
    if result:  # back in the mailbox (moved between folders, say): counted again
        recount_conversations(set(result.values()))
    todo = list({m.pk: m for m in messages if m.pk not in result}.values())
    if not todo:
        return result
    subjects = {m.pk: normalize_subject(m.subject) for m in todo}
    ours = {mailbox.address}  # on every message: it proves nothing
    threads: dict[int, _Thread] = {}  # by conversation id
    by_id, by_pk, by_index, by_subject = _evidence(todo, subjects, mailbox, threads)

    placed: list[tuple[Message, _Thread]] = []
    for message in todo:
        subject = subjects[message.pk]
        thread = (
            next((by_id[i] for i in _referenced(message) if i in by_id), None)
            or by_pk.get(message.bounce_of_id)
            or (by_index.get(message.thread_index) if message.thread_index else None)
            or _subject_match(message, subject, by_subject.get(subject, []), ours)
        )
        when = message.sort_time
        if thread is None:
            thread = _Thread(
                pk=None,
                subject=message.subject,
                normalized_subject=subject,
                last_message_at=when,
                last_sender=message.from_name or message.from_address,
                message_count=0,
            )
            if subject:
                by_subject.setdefault(subject, []).append(thread)
        thread.message_count += 1
        thread.changed = True
        if when >= thread.last_message_at:
            thread.last_message_at = when
            thread.last_sender = message.from_name or message.from_address
        if message.from_address:
            thread.people.append({message.from_address, *message.to_addresses} - ours)
        # What later messages of the batch may find it by.
        if message.message_id:
            by_id.setdefault(message.message_id, thread)
        by_pk[message.pk] = thread
        if message.thread_index:
            by_index.setdefault(message.thread_index, thread)
        placed.append((message, thread))

    _write(mailbox, placed, threads)
    result.update((message.pk, thread.pk) for message, thread in placed)
    return result


def _referenced(message: Message) -> list[str]:
    """Message-IDs it answers: In-Reply-To first, then References from the nearest."""
    return [i for i in [message.in_reply_to, *reversed(message.references)] if i]


def _evidence(
    todo: list[Message], subjects: dict[int, str], mailbox: Mailbox, threads: dict[int, _Thread]
) -> tuple[dict, dict, dict, dict]:
    """The conversations of `mailbox` that the batch's headers point at, set-wise."""
    links = ConversationMessage.objects.filter(mailbox=mailbox)
    wanted_ids = {i for m in todo for i in _referenced(m)}
    bounced = {m.bounce_of_id for m in todo if m.bounce_of_id}
    indexes = {m.thread_index for m in todo if m.thread_index}
    since = min(m.sort_time for m in todo) - SUBJECT_WINDOW
    found_ids = found_pks = found_indexes = []
    if wanted_ids:
        found_ids = list(
            links.filter(message__message_id__in=wanted_ids)
            .order_by("pk")
            .values_list("message__message_id", "conversation_id")
        )
    if bounced:
        found_pks = list(
            links.filter(message_id__in=bounced).values_list("message_id", "conversation_id")
        )
    if indexes:
        found_indexes = list(
            links.filter(message__thread_index__in=indexes)
            .order_by("pk")
            .values_list("message__thread_index", "conversation_id")
        )
    candidates = list(
        Conversation.objects.filter(
            mailbox=mailbox,
            normalized_subject__in={s for s in subjects.values() if s},
            last_message_at__gte=since,
        ).values_list("pk", "normalized_subject", "last_message_at")
    )
    # As one message at a time would: the five most recent of a subject, each judged by
    # the correspondents of up to 20 of its messages.
    candidates.sort(key=lambda row: row[2], reverse=True)
    per_subject: dict[str, list[int]] = {}
    for pk, subject, _ in candidates:
        if len(per_subject.setdefault(subject, [])) < 5:
            per_subject[subject].append(pk)
    shortlist = [pk for pks in per_subject.values() for pk in pks]
    needed = {c for _, c in [*found_ids, *found_pks, *found_indexes]} | set(shortlist)
    for row in Conversation.objects.filter(pk__in=needed).values_list(
        "pk", "subject", "normalized_subject", "last_message_at", "last_sender", "message_count"
    ):
        threads[row[0]] = _Thread(*row)
    ours = {mailbox.address}
    if shortlist:
        numbered = (
            ConversationMessage.objects.filter(conversation_id__in=shortlist)
            .annotate(n=Window(RowNumber(), partition_by=F("conversation_id"), order_by="pk"))
            .filter(n__lte=20)
        )
        for conversation_id, sender, to in numbered.values_list(
            "conversation_id", "message__from_address", "message__to_addresses"
        ):
            threads[conversation_id].people.append({sender, *(to or [])} - ours)
    by_id: dict[str, _Thread] = {}
    for message_id, conversation_id in found_ids:
        by_id.setdefault(message_id, threads[conversation_id])
    by_pk = {pk: threads[c] for pk, c in found_pks}
    by_index: dict[str, _Thread] = {}
    for index, conversation_id in found_indexes:
        by_index.setdefault(index, threads[conversation_id])
    by_subject = {s: [threads[pk] for pk in pks] for s, pks in per_subject.items()}
    return by_id, by_pk, by_index, by_subject


def _subject_match(
    message: Message, subject: str, candidates: list[_Thread], ours: set[str]
) -> _Thread | None:
    if not subject or not message.from_address:
        return None
    since = message.sort_time - SUBJECT_WINDOW
    correspondents = {message.from_address, *message.to_addresses} - ours
    recent = sorted(
        (t for t in candidates if t.last_message_at >= since),
        key=lambda t: t.last_message_at,
        reverse=True,
    )
    for thread in recent[:5]:
        if any(correspondents & people for people in thread.people):
            return thread
    return None


def _write(
    mailbox: Mailbox, placed: list[tuple[Message, _Thread]], threads: dict[int, _Thread]
) -> None:
    """New conversations and links in multi-row INSERTs, changed counters in one UPDATE."""
    started = list({id(t): t for _, t in placed if t.pk is None}.values())
    ids = insert_returning(
        Conversation,
        [
            "mailbox",
            "subject",
            "normalized_subject",
            "last_message_at",
            "last_sender",
            "message_count",
        ],
        (
            (
                mailbox.pk,
                t.subject,
                t.normalized_subject[:255],
                t.last_message_at,
                t.last_sender[:500],
                t.message_count,
            )
            for t in started
        ),
        returning=["id"],
    )
    for thread, (pk,) in zip(started, ids, strict=True):
        thread.pk = pk
    insert_ignoring_conflicts(
        ConversationMessage,
        ["conversation", "message", "mailbox"],
        ((thread.pk, message.pk, mailbox.pk) for message, thread in placed),
    )
    update_rows(
        Conversation,
        ["message_count", "last_message_at", "last_sender"],
        (
            (t.pk, t.message_count, t.last_message_at, t.last_sender[:500])
            for t in threads.values()
            if t.changed
        ),
    )


def _add(conversation: Conversation, message: Message) -> None:
    when = message.sort_time
    conversation.message_count += 1
    if when >= conversation.last_message_at:
        conversation.last_message_at = when
        conversation.last_sender = message.from_name or message.from_address
    conversation.save()


@transaction.atomic
def rethread(message: Message) -> list[Conversation]:
    """Thread a message again in every mailbox that shows it, after it was re-parsed.

    A quarantined message was threaded without headers: alone, with no subject. Now that
    it parses it may belong to an existing conversation (it is moved there, and the
    conversation it leaves is deleted when that leaves it empty), or its conversation
    gets its subject.
    """
    result = []
    links = ConversationMessage.objects.filter(message=message).select_related(
        "conversation", "mailbox"
    )
    for link in links:
        current, mailbox = link.conversation, link.mailbox
        subject = normalize_subject(message.subject)
        target = _find(message, mailbox, subject)
        if target is not None and target.pk != current.pk:
            link.conversation = target
            link.save(update_fields=["conversation"])
            _add(target, message)
            if current.message_count <= 1:
                current.delete()
            else:
                _recount(current)
            result.append(target)
            continue
        if current.message_count <= 1 or not current.subject:
            current.subject, current.normalized_subject = message.subject, subject
        _recount(current)
        result.append(current)
    return result


def _recount(conversation: Conversation) -> None:
    """Message count, last time and last sender recomputed from the messages its
    mailbox holds."""
    held = conversation.messages.filter(copies__mailbox_id=conversation.mailbox_id)
    messages = list(held.distinct())
    conversation.message_count = len(messages)
    if messages:
        last = max(messages, key=lambda m: m.sort_time)
        conversation.last_message_at = last.sort_time
        conversation.last_sender = last.from_name or last.from_address
    conversation.save()


def copies_removed(mailbox_id: int, message_ids: Collection[int]) -> None:
    """After copies of `message_ids` left the mailbox (deleted on the server or here):
    their conversations count only the emails it still holds, and one that holds none
    leaves the list. The links stay: an email that comes back (moved to another synced
    folder) is back in the same conversation."""
    links = ConversationMessage.objects.filter(mailbox_id=mailbox_id, message_id__in=message_ids)
    recount_conversations(set(links.values_list("conversation_id", flat=True)))


def recount_conversations(conversation_ids: Collection[int]) -> None:
    """Set each one's message_count to the emails of it its mailbox holds, in one UPDATE."""
    if not conversation_ids:
        return
    held = MessageCopy.objects.filter(
        message_id=OuterRef("message_id"), mailbox_id=OuterRef("mailbox_id")
    )
    counted = (
        ConversationMessage.objects.filter(conversation=OuterRef("pk"))
        .filter(Exists(held))
        .values("conversation")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Conversation.objects.filter(pk__in=conversation_ids).update(
        message_count=Coalesce(Subquery(counted), 0)
    )
