"""The shared-inbox workflow: who is responsible for a conversation, its status, snooze,
comments with @mentions and the reply history.

Every change of a conversation's workflow goes through a `do_<verb>` function here, which
records a ConversationEvent (who, when, why) in the caller's transaction; views, jobs,
the API and the pipeline call these and nothing else writes the fields.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from postroom import webhooks
from postroom.accounts.actions import do_notify
from postroom.accounts.models import User

from .bulk import update_rows
from .models import Comment, Conversation, ConversationEvent, ReplyPresence

logger = logging.getLogger(__name__)

Status = Conversation.Status
Kind = ConversationEvent.Kind

# An email dated this long before the status was set is old mail fetched late: it does
# not reopen the conversation (a customer's clock may be minutes off; not a day).
LATE_EMAIL = timedelta(days=1)


class WorkflowError(Exception):
    """A workflow change cannot be made as asked; the message says why."""


# Apps further along the layers follow the workflow through listeners, registered in
# their AppConfig.ready() (routing's SLA clock): mail never imports them. Each is called
# in the transaction of the change: "assigned" with {conversation id: user id or None},
# "answered" and "closed" with {conversation id: when}.
LISTENERS: dict[str, list[Callable]] = {"assigned": [], "answered": [], "closed": []}


def listen(event: str) -> Callable:
    def register(function: Callable) -> Callable:
        if function not in LISTENERS[event]:
            LISTENERS[event].append(function)
        return function

    return register


def _emit(event: str, news: dict) -> None:
    if news:
        for listener in LISTENERS[event]:
            listener(news)


def conversation_url(conversation: Conversation) -> str:
    try:
        return reverse("web:conversation", args=[conversation.pk])
    except NoReverseMatch:  # pragma: no cover - the web app is always installed
        return ""


def _label(conversation: Conversation) -> str:
    return f"“{conversation.subject or '(no subject)'}”"


def _record(
    conversation: Conversation,
    kind: str,
    *,
    actor: User | None,
    user: User | None = None,
    **detail,
) -> ConversationEvent:
    return ConversationEvent.objects.create(
        conversation=conversation,
        kind=kind,
        actor=actor,
        user=user,
        detail={k: v for k, v in detail.items() if v not in (None, "")},
    )


# ------------------------------------------------------------------- responsibility


def do_assign(
    conversation: Conversation,
    responsible: User | None,
    *,
    acting_user: User | None = None,
    reason: str = "",
) -> bool:
    """Make `responsible` (None: nobody) the conversation's responsible person.

    Records who did it, when and why (`reason`, e.g. the rule that matched), and tells
    the new responsible person unless they assigned themselves. Returns whether anything
    changed. Runs in the caller's transaction (a savepoint of it).
    """
    new_id = responsible.pk if responsible is not None else None
    with transaction.atomic():
        # The row as it is now, locked (PostgreSQL) so two assignments queue up.
        current = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("responsible_id", flat=True)
            .first()
        )
        if current == new_id:
            conversation.responsible = responsible
            return False
        Conversation.objects.filter(pk=conversation.pk).update(responsible=responsible)
        conversation.responsible = responsible
        _emit("assigned", {conversation.pk: new_id})
        webhooks.emit(
            "conversation.assigned",
            conversation,
            previous=current,
            actor=acting_user,
            reason=reason,
        )
        if responsible is None:
            _record(
                conversation, Kind.UNASSIGNED, actor=acting_user, reason=reason, previous=current
            )
            return True
        _record(
            conversation,
            Kind.ASSIGNED,
            actor=acting_user,
            user=responsible,
            reason=reason,
            previous=current,
        )
        if acting_user is None or acting_user.pk != responsible.pk:
            by = str(acting_user) if acting_user is not None else "Postroom"
            why = f" ({reason})" if reason else ""
            do_notify(
                [responsible],
                f"{by} made you responsible for {_label(conversation)} "
                f"in {conversation.mailbox.address}{why}",
                url=conversation_url(conversation),
                kind="assigned",
            )
    logger.info(
        "conversation %s: responsible %s -> %s by %s%s",
        conversation.pk,
        current,
        new_id,
        acting_user.pk if acting_user else "postroom",
        f" ({reason})" if reason else "",
    )
    return True


def do_assign_new(assignments: list[tuple[Conversation, User, str]]) -> int:
    """do_assign by Postroom for a batch of conversations that have nobody yet (the
    pipeline's distribution rules): set-wise, a statement per person plus one for the
    events and one for the notifications, the same events and notifications as
    do_assign. A conversation someone took meanwhile keeps its person. Returns how many
    were assigned; runs in the caller's transaction (a savepoint of it)."""
    from postroom.accounts.notify import notify_many

    wanted = {c.pk: (c, user, reason) for c, user, reason in reversed(assignments)}
    if not wanted:
        return 0
    with transaction.atomic():
        free = set(
            Conversation.objects.select_for_update()
            .filter(pk__in=list(wanted), responsible__isnull=True)
            .values_list("pk", flat=True)
        )
        chosen = [wanted[pk] for pk in sorted(free)]
        by_user: dict[int, list[int]] = {}
        for conversation, user, _ in chosen:
            by_user.setdefault(user.pk, []).append(conversation.pk)
        for user_id, pks in by_user.items():
            Conversation.objects.filter(pk__in=pks).update(responsible_id=user_id)
        _emit("assigned", {c.pk: user.pk for c, user, _ in chosen})
        ConversationEvent.objects.bulk_create(
            [
                ConversationEvent(
                    conversation=conversation,
                    kind=Kind.ASSIGNED,
                    user=user,
                    detail={"reason": reason} if reason else {},
                )
                for conversation, user, reason in chosen
            ]
        )
        notify_many(
            (
                user,
                "assigned",
                f"Postroom made you responsible for {_label(conversation)} in "
                f"{conversation.mailbox.address}{f' ({reason})' if reason else ''}",
                conversation_url(conversation),
            )
            for conversation, user, reason in chosen
        )
        for conversation, user, _ in chosen:
            conversation.responsible = user
        webhooks.emit(
            "conversation.assigned", *(c for c, _, _ in chosen), reason="distribution rules"
        )
    logger.info("%s conversation(s) assigned by the distribution rules", len(chosen))
    return len(chosen)


def do_take(conversation: Conversation, user: User) -> bool:
    """ "Take it": the user makes themselves responsible."""
    return do_assign(conversation, user, acting_user=user, reason="took it")


def do_unassign(conversation: Conversation, *, acting_user: User | None = None) -> bool:
    return do_assign(conversation, None, acting_user=acting_user)


# ------------------------------------------------------------------- status


def do_set_status(
    conversation: Conversation, status: str, *, acting_user: User | None = None, reason: str = ""
) -> bool:
    """Open, pending (waiting on the customer) or closed; closing ends a snooze."""
    if status not in Status.values:
        raise WorkflowError(f"unknown status {status!r}")
    with transaction.atomic():
        row = Conversation.objects.select_for_update().filter(pk=conversation.pk)
        current = row.values_list("status", flat=True).first()
        if current == status:
            conversation.status = status
            return False
        moment = timezone.now()
        fields = {"status": status, "status_changed_at": moment}
        fields["closed_at"] = moment if status == Status.CLOSED else None
        if status == Status.CLOSED:
            fields["snoozed_until"] = None
        row.update(**fields)
        for name, value in fields.items():
            setattr(conversation, name, value)
        if status == Status.CLOSED:
            _emit("closed", {conversation.pk: moment})
        kind = Kind.REOPENED if reason and status == Status.OPEN else Kind.STATUS
        _record(
            conversation, kind, actor=acting_user, reason=reason, previous=current, status=status
        )
        webhooks.emit(
            "conversation.status_changed",
            conversation,
            previous=current,
            actor=acting_user,
            reason=reason,
        )
    return True


def do_close(conversation: Conversation, *, acting_user: User | None = None) -> bool:
    return do_set_status(conversation, Status.CLOSED, acting_user=acting_user)


# ------------------------------------------------------------------- snooze


def do_snooze(
    conversation: Conversation, until: datetime, *, acting_user: User | None = None
) -> bool:
    """Out of the working views until `until`; a job brings it back then (and the job
    runner's housekeeping sweep, should that job be lost)."""
    if until <= timezone.now():
        raise WorkflowError("a snooze ends in the future")
    if conversation.status == Status.CLOSED:
        raise WorkflowError("a closed conversation cannot be snoozed; reopen it first")
    from .jobs import wake_snoozed  # the job module imports this one

    with transaction.atomic():
        Conversation.objects.filter(pk=conversation.pk).update(snoozed_until=until)
        conversation.snoozed_until = until
        _record(conversation, Kind.SNOOZED, actor=acting_user, until=until.isoformat())
        # The database queue writes the job in this transaction; Celery sends it on commit.
        wake_snoozed.using(run_after=until).enqueue(conversation.pk)
    return True


def do_wake(
    conversation: Conversation, *, acting_user: User | None = None, reason: str = ""
) -> bool:
    """End a snooze now. Woken by Postroom (its time came), the responsible person is
    told it is back."""
    with transaction.atomic():
        changed = Conversation.objects.filter(
            pk=conversation.pk, snoozed_until__isnull=False
        ).update(snoozed_until=None)
        conversation.snoozed_until = None
        if not changed:
            return False
        _record(conversation, Kind.WOKE, actor=acting_user, reason=reason)
        responsible_id = (
            Conversation.objects.filter(pk=conversation.pk)
            .values_list("responsible_id", flat=True)
            .first()
        )
        if acting_user is None and responsible_id is not None:
            do_notify(
                User.objects.filter(pk=responsible_id),
                f"{_label(conversation)} is back from snooze",
                url=conversation_url(conversation),
            )
    return True


def wake_if_due(conversation_id: int) -> bool:
    """The snooze job: wake the conversation if its snooze is over (a later snooze, or
    none, leaves it as it is: the job of an earlier snooze is stale)."""
    conversation = (
        Conversation.objects.select_related("mailbox")
        .filter(pk=conversation_id, snoozed_until__lte=timezone.now())
        .first()
    )
    return conversation is not None and do_wake(conversation, reason="snooze ended")


def wake_overdue() -> int:
    """Wake every conversation whose snooze is over: nothing is missed while the job
    runner was down or a job was lost. Safe at any time."""
    due = Conversation.objects.filter(snoozed_until__lte=timezone.now()).values_list(
        "pk", flat=True
    )
    return sum(wake_if_due(pk) for pk in list(due[:1000]))


# ------------------------------------------------------------------- arriving mail


def _organisation_addresses() -> Callable[[str], bool]:
    """A test for "is this address the organisation's own": its mailboxes, its users
    and its internal domains (read once per call, not per email)."""
    # The internal domains are a CRM setting: read through the crm app's cached reader,
    # the one every part asks (imported here, as the crm app comes after mail).
    from postroom.crm.organisation import internal_domains
    from postroom.mailboxes.models import Mailbox

    addresses = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    addresses |= {a.lower() for a in User.objects.values_list("email", flat=True)}
    domains = internal_domains()

    def is_ours(address: str) -> bool:
        address = address.strip().lower()
        return address in addresses or address.rpartition("@")[2] in domains

    return is_ours


def mail_threaded(message_ids: list[int], mailbox) -> int:
    """After ingest threaded these emails into the mailbox's conversations: a customer's
    email reopens a closed or pending conversation (and ends its snooze) when it is newer
    than the status, and starts the wait for an answer; ours ends the wait. Keeps the
    has-attachment flag. Returns how many conversations were reopened. Idempotent."""
    from .models import Attachment, ConversationMessage, Message

    links = (
        ConversationMessage.objects.filter(mailbox=mailbox, message_id__in=message_ids)
        .filter(message__status=Message.Status.PARSED)
        .values_list(
            "conversation_id",
            "message_id",
            "message__from_address",
            "message__kind",
            "message__date",
            "message__received_at",
            "message__created_at",
        )
    )
    by_conversation: dict[int, list[tuple]] = {}
    for conversation_id, message_id, sender, kind, date, received, created in links:
        when = date or received or created
        by_conversation.setdefault(conversation_id, []).append(
            (when, message_id, sender, kind, created)
        )
    if not by_conversation:
        return 0
    with_files = set(
        Attachment.objects.filter(message_id__in=message_ids, is_inline=False).values_list(
            "message_id", flat=True
        )
    )
    is_ours = _organisation_addresses()
    conversations = Conversation.objects.in_bulk(list(by_conversation))
    for conversation in conversations.values():
        # All of this mailbox (the links were chosen by it): one instance shared, not a
        # Mailbox built from a join for each of a first sync's 10,000 conversations.
        conversation.mailbox = mailbox
    changed, reopened, answered = [], 0, {}
    for conversation_id, emails in by_conversation.items():
        conversation = conversations[conversation_id]
        before = (conversation.waiting_since, conversation.has_attachment)
        newest_customer, replied = None, 0
        for when, message_id, sender, kind, stored in sorted(emails, key=lambda e: e[:2]):
            if message_id in with_files:
                conversation.has_attachment = True
            if not sender:
                continue
            if is_ours(sender):
                # Our auto-reply is nobody's answer: the customer still waits.
                waiting = conversation.waiting_since
                if kind == "normal" and waiting is not None and when >= waiting:
                    conversation.waiting_since = None
                    answered[conversation_id] = when
            elif kind == "normal":  # an auto-reply or a bounce is nobody waiting
                if conversation.waiting_since is None:
                    conversation.waiting_since = when
                newest_customer = (stored, when)
                replied = message_id
        if (conversation.waiting_since, conversation.has_attachment) != before:
            changed.append(conversation)
        if newest_customer is not None:
            _tell_customer_replied(conversation, replied, *newest_customer)
            if _reopens(conversation, *newest_customer):
                reopened += 1
    if changed:
        # By primary key, one prepared statement: Django's bulk_update builds a CASE WHEN
        # per field over the batch, and cost half of an import's threading step.
        update_rows(
            Conversation,
            ["waiting_since", "has_attachment"],
            [(c.pk, c.waiting_since, c.has_attachment) for c in changed],
        )
    # Our email in the thread (sent from another client, synced) answers it too.
    _emit("answered", answered)
    return reopened


def _tell_customer_replied(
    conversation: Conversation, message_id: int, stored: datetime, dated: datetime
) -> None:
    """The customer wrote again on a conversation someone is responsible for: tell them
    (once per email; not for old mail fetched late)."""
    from postroom.accounts.models import Notification

    since = conversation.status_changed_at
    if conversation.responsible_id is None or (
        since is not None and (stored < since or dated < since - LATE_EMAIL)
    ):
        return
    url = conversation_url(conversation) + f"#message-{message_id}"
    told = Notification.objects.filter(
        user_id=conversation.responsible_id, kind="customer_replied", url=url
    )
    if not told.exists():
        do_notify(
            User.objects.filter(pk=conversation.responsible_id),
            f"The customer wrote again on {_label(conversation)}",
            url=url,
            kind="customer_replied",
        )


def _reopens(conversation: Conversation, stored: datetime, dated: datetime) -> bool:
    """A customer's email stored after the status was set reopens a closed or pending
    conversation, and brings back a snoozed one; not an old email fetched late (dated
    long before the status, e.g. when a mailbox's window grows)."""
    since = conversation.status_changed_at
    if since is not None and (stored < since or dated < since - LATE_EMAIL):
        return False
    woke = False
    if conversation.snoozed_until is not None:
        woke = do_wake(conversation, reason="the customer wrote")
    if conversation.status == Status.OPEN:
        return woke
    return do_set_status(conversation, Status.OPEN, reason="the customer wrote")


# ------------------------------------------------------------------- replies


def record_reply(
    conversation: Conversation,
    message,
    *,
    author: User | None,
    from_address: str,
    sent_at: datetime,
    forward: bool = False,
) -> bool:
    """A colleague's email went out in the conversation: its history says who replied,
    when, from which address and how long the customer had waited; the wait ends, and
    an open conversation now waits on the customer (a forward is recorded, and changes
    neither). Idempotent per email."""
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation.pk)
        if conversation.events.filter(kind=Kind.REPLIED, detail__message=message.pk).exists():
            return False
        waited = None
        if conversation.waiting_since is not None:
            waited = max(0, int((sent_at - conversation.waiting_since).total_seconds()))
        ConversationEvent.objects.create(
            conversation=conversation,
            kind=Kind.REPLIED,
            actor=author,
            user=author,
            created_at=sent_at,
            detail={
                "message": message.pk,
                "from": from_address,
                "subject": message.subject,
                "waited_seconds": None if forward else waited,
                "forward": forward,
            },
        )
        if forward:
            return True
        Conversation.objects.filter(pk=conversation.pk).update(waiting_since=None)
        _emit("answered", {conversation.pk: sent_at})
        if conversation.status == Status.OPEN:
            do_set_status(conversation, Status.PENDING, acting_user=author)
    return True


def replies(conversation: Conversation):
    """The reply history, oldest first."""
    return conversation.events.filter(kind=Kind.REPLIED).select_related("actor")


def newer_customer_email(conversation: Conversation, seen_message_id: int | None):
    """The newest email from the customer that arrived after the one the writer saw
    (None: nothing new). Collision detection asks this before sending a reply."""
    from .models import Message

    if not seen_message_id:
        return None
    is_ours = _organisation_addresses()
    newer = (
        Message.objects.filter(
            conversationmessage__conversation=conversation, pk__gt=seen_message_id
        )
        .exclude(from_address="")
        .order_by("-pk")
        .only("pk", "from_address", "subject", "date")
    )
    for message in newer[:20]:
        if not is_ours(message.from_address):
            return message
    return None


# ------------------------------------------------------------------- people


def people_for(mailbox):
    """The active colleagues who may read the mailbox: whom a conversation of it may be
    assigned to and who may be mentioned in its comments."""
    from django.db.models import Q

    from postroom.mailboxes.models import Mailbox, MailboxGrant

    users = User.objects.filter(is_active=True)
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        return users.filter(pk=mailbox.owner_id)
    grants = MailboxGrant.objects.filter(mailbox=mailbox, level__gte=MailboxGrant.Level.READ)
    return (
        users.filter(
            Q(is_superuser=True)
            | Q(pk__in=grants.filter(user__isnull=False).values("user"))
            | Q(groups__in=grants.filter(group__isnull=False).values("group"))
        )
        .distinct()
        .order_by("first_name", "last_name", "username")
    )


# ------------------------------------------------------------------- comments

MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+)")


def mentioned_in(body: str, mailbox) -> list[User]:
    """Colleagues named as @username in a comment (those who may read the mailbox)."""
    names = {m.rstrip(".").lower() for m in MENTION.findall(body)}
    if not names:
        return []
    return [u for u in people_for(mailbox) if u.username.lower() in names]


def do_comment(conversation: Conversation, body: str, *, author: User) -> Comment:
    """An internal note: never sent to the customer and never quoted in a reply. Each
    colleague @mentioned is notified."""
    body = body.strip()
    if not body:
        raise WorkflowError("a comment needs some text")
    with transaction.atomic():
        comment = Comment.objects.create(conversation=conversation, author=author, body=body)
        mentioned = [u for u in mentioned_in(body, conversation.mailbox) if u.pk != author.pk]
        if mentioned:
            comment.mentions.set(mentioned)
            do_notify(
                mentioned,
                f"{author} mentioned you on {_label(conversation)}: {body[:120]}",
                url=conversation_url(conversation) + f"#comment-{comment.pk}",
                kind="mentioned",
            )
        webhooks.emit("conversation.commented", comment)
    return comment


# ------------------------------------------------------------------- who is replying

# A compose form says "still writing" every PRESENCE_BEAT; silence for PRESENCE_TTL
# (a closed tab, a lost connection) ends the presence.
PRESENCE_BEAT = timedelta(seconds=5)
PRESENCE_TTL = timedelta(seconds=20)


def do_mark_replying(conversation: Conversation, user: User) -> None:
    """The user is writing a reply to the conversation, as of now."""
    ReplyPresence.objects.update_or_create(
        conversation=conversation, user=user, defaults={"seen_at": timezone.now()}
    )


def do_stop_replying(conversation: Conversation, user: User) -> None:
    ReplyPresence.objects.filter(conversation=conversation, user=user).delete()


def replying_now(conversation: Conversation, *, besides: User | None = None) -> list[User]:
    """Who else is writing a reply to the conversation right now."""
    fresh = ReplyPresence.objects.filter(
        conversation=conversation, seen_at__gte=timezone.now() - PRESENCE_TTL
    )
    if besides is not None:
        fresh = fresh.exclude(user=besides)
    return [p.user for p in fresh.select_related("user").order_by("seen_at")]


# ------------------------------------------------------------------- from the UI

# What the inbox's bulk form and the conversation page may ask for.
# ------------------------------------------------------------------- moving


def do_move_conversation(conversation: Conversation, to_mailbox, acting_user: User) -> bool:
    """List the conversation under another mailbox (mail sent to sales@ that support
    must answer); returns whether it moved. WorkflowError says why it cannot.

    The person needs the reply right on both mailboxes: taking work out of one and
    handing it to the people of the other. What moves and what stays:
    - The conversation row's mailbox: from now on it is listed, counted, assigned and
      answered (replies go out from) under the new mailbox, and its readers read its
      emails (postroom/web/access.py lets a conversation's mailbox open its messages).
    - The emails' copies stay where they are, on the original mailbox's server: they
      are that account's mail, Postroom cannot move mail between two servers, and the
      other mailbox's sync would never see them there anyway.
    - The links of its emails (ConversationMessage.mailbox, the mailbox whose copy
      threaded it) stay too: a customer's next email to the old address still threads
      into this conversation by its References and comes up under the new mailbox.
    - The CRM binding stays: the lead, contact or deal an email made is the customer's,
      not the mailbox's.
    - The responsible person stays if they may read the new mailbox; otherwise nobody
      is (they could no longer open it), recorded as its own step with the reason.
    Recorded as a "moved" step of the history: who, when, from and to which address.
    """
    from postroom.mailboxes.access import mailboxes_for
    from postroom.mailboxes.models import MailboxGrant, TrackerAddress

    if to_mailbox is None:
        raise WorkflowError("choose the mailbox to move it to")
    if to_mailbox.pk == conversation.mailbox_id:
        return False
    if TrackerAddress.objects.filter(mailbox=to_mailbox).exists():
        raise WorkflowError(f"{to_mailbox.address} is a BCC tracker, not an inbox")
    replying = mailboxes_for(acting_user, MailboxGrant.Level.REPLY)
    for mailbox in (conversation.mailbox, to_mailbox):
        if not replying.filter(pk=mailbox.pk).exists():
            raise WorkflowError(f"moving needs the reply right on {mailbox.address}")
    with transaction.atomic():
        current = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("mailbox_id", flat=True)
            .first()
        )
        if current == to_mailbox.pk:
            return False
        source = conversation.mailbox
        Conversation.objects.filter(pk=conversation.pk).update(mailbox=to_mailbox)
        conversation.mailbox = to_mailbox
        _record(
            conversation,
            Kind.MOVED,
            actor=acting_user,
            **{"from": source.address, "to": to_mailbox.address},
            from_mailbox=source.pk,
            to_mailbox=to_mailbox.pk,
        )
        responsible = conversation.responsible
        readers = people_for(to_mailbox)
        if responsible is not None and not readers.filter(pk=responsible.pk).exists():
            do_assign(
                conversation,
                None,
                acting_user=acting_user,
                reason=f"{responsible} may not read {to_mailbox.address}",
            )
    logger.info(
        "conversation %s: moved from mailbox %s to %s by %s",
        conversation.pk,
        source.pk,
        to_mailbox.pk,
        acting_user.pk,
    )
    return True


ACTIONS = ("assign", "take", "unassign", "open", "pending", "closed", "snooze", "wake", "move")


def check_responsible(responsible: User, mailbox) -> None:
    """Only an active colleague who may read the mailbox can be responsible for its mail."""
    if not people_for(mailbox).filter(pk=responsible.pk).exists():
        raise WorkflowError(f"{responsible} may not read {mailbox.address}")


def do_apply(
    conversation: Conversation,
    action: str,
    *,
    acting_user: User,
    responsible: User | None = None,
    until: datetime | None = None,
    to_mailbox=None,
) -> bool:
    """One of ACTIONS on a conversation, as a person asked for it in the UI or the API;
    returns whether anything changed. WorkflowError says why it cannot be done."""
    if action == "move":
        return do_move_conversation(conversation, to_mailbox, acting_user)
    if action == "assign":
        if responsible is None:
            raise WorkflowError("choose whom to assign it to")
        check_responsible(responsible, conversation.mailbox)
        return do_assign(conversation, responsible, acting_user=acting_user)
    if action == "take":
        check_responsible(acting_user, conversation.mailbox)
        return do_take(conversation, acting_user)
    if action == "unassign":
        return do_unassign(conversation, acting_user=acting_user)
    if action in (Status.OPEN, Status.PENDING, Status.CLOSED):
        changed = do_set_status(conversation, action, acting_user=acting_user)
        if action == Status.OPEN and conversation.snoozed_until is not None:
            changed = do_wake(conversation, acting_user=acting_user) or changed
        return changed
    if action == "snooze":
        if until is None:
            raise WorkflowError("choose until when")
        return do_snooze(conversation, until, acting_user=acting_user)
    if action == "wake":
        return do_wake(conversation, acting_user=acting_user)
    raise WorkflowError(f"unknown action {action!r}")


def do_apply_many(
    conversations, action: str, *, acting_user: User, **options
) -> tuple[int, list[str]]:
    """The inbox's bulk action: each conversation in its own savepoint; returns how many
    changed and why the others could not be."""
    changed, problems = 0, []
    for conversation in conversations:
        try:
            with transaction.atomic():
                changed += do_apply(conversation, action, acting_user=acting_user, **options)
        except WorkflowError as exc:
            problems.append(f"{_label(conversation)}: {exc}")
    return changed, problems


def reply_waits(message_ids) -> dict[int, int]:
    """For sent emails among these, how long the customer had waited for each (seconds):
    what a CRM timeline says beside an outgoing email."""
    events = ConversationEvent.objects.filter(
        kind=Kind.REPLIED, detail__message__in=list(message_ids)
    ).values_list("detail", flat=True)
    return {
        d["message"]: d["waited_seconds"] for d in events if d.get("waited_seconds") is not None
    }
