"""Reply deadlines (SLA): policies, the clock of each waiting customer and its sweep.

    policy = do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480,
                           calendar=office, grace_minutes=60, supervisor=head)
    start_clocks(mailbox, messages, results, router)   # the pipeline, after assign
    sweep()                                            # the job queue, every minute

A customer's new email that leaves them waiting (Conversation.waiting_since) starts a
clock: due `first_reply_minutes` (no reply in the conversation yet) or
`next_reply_minutes` of the calendar's working time later, with a CRM task "Reply to the
client within 2 hours" for the conversation's responsible person on the item the email
landed on. The workflow (mail/workflow.py) tells this module, through its listeners,
when the conversation is reassigned (the task moves), answered (clock and task end) or
closed (both end, the clock as stopped); mail never imports routing.

The sweep raises what is due, each once, marked on the clock in the same transaction
(`soon_notified_at`, `breached_at`, `escalated_at`): "due soon" and "breached" to the
responsible person, and `grace_minutes` of working time after the deadline, to the
supervisor. It reads the running clocks through partial indexes, so one sweep over
100,000 running clocks touches only the due ones, and a sweep after a stopped worker
raises every breach that happened meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from postroom.crm.actions import do_create_task, do_finish_task
from postroom.crm.models import Contact, Deal, Lead, SmartItem, Task
from postroom.mail import workflow
from postroom.mail.models import Conversation, ConversationEvent
from postroom.mailboxes.models import Mailbox, MailboxGrant

from . import calendars
from .models import BusinessHours, DistributionRule, SlaClock, SlaPolicy

logger = logging.getLogger(__name__)

# A customer's email older than this when it is captured (an initial fetch of the last
# 30 days) starts no clock: its deadline passed before Postroom saw it.
LATE_EMAIL = timedelta(days=1)
# Clocks raised per statement; a sweep goes on until nothing is left.
SWEEP_BATCH = 1000


class SlaError(ValueError):
    """A policy that cannot work, with the reason in words."""


def soon_window() -> timedelta:
    return timedelta(minutes=settings.POSTROOM.get("SLA_DUE_SOON_MINUTES", 30))


def in_words(minutes: int) -> str:
    """120 -> "2 hours", 90 -> "1 hour 30 minutes"."""
    hours, rest = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if rest or not hours:
        parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    return " ".join(parts)


# ----------------------------------------------------------------- policies


def check_policy(
    first_reply_minutes: int,
    next_reply_minutes: int,
    grace_minutes: int = 0,
    calendar: BusinessHours | None = None,
) -> None:
    """SlaError when the policy could never give a deadline."""
    for name, value in (("first reply", first_reply_minutes), ("next reply", next_reply_minutes)):
        if value is None or int(value) <= 0:
            raise SlaError(f"the {name} deadline must be at least 1 minute (it is {value})")
    if grace_minutes is None or int(grace_minutes) < 0:
        raise SlaError("the grace before the supervisor is told cannot be negative")
    if calendar is not None and not calendar.intervals:
        raise SlaError(
            f"the calendar “{calendar.name}” has no working hours: a deadline in it never comes"
        )


@transaction.atomic
def do_set_policy(
    mailbox: Mailbox,
    *,
    rule: DistributionRule | None = None,
    first_reply_minutes: int,
    next_reply_minutes: int,
    grace_minutes: int = 60,
    calendar: BusinessHours | None = None,
    supervisor=None,
    acting_user=None,
) -> SlaPolicy:
    """The mailbox's policy (or the rule's), created or changed; SlaError says why not.
    Running clocks keep the deadline they were given."""
    if rule is not None and rule.mailbox_id != mailbox.pk:
        raise SlaError(f"the rule “{rule}” is not one of {mailbox.address}'s")
    check_policy(first_reply_minutes, next_reply_minutes, grace_minutes, calendar)
    policy = SlaPolicy.objects.filter(mailbox=mailbox, rule=rule).first() or SlaPolicy(
        mailbox=mailbox, rule=rule
    )
    policy.first_reply_minutes = int(first_reply_minutes)
    policy.next_reply_minutes = int(next_reply_minutes)
    policy.grace_minutes = int(grace_minutes)
    policy.calendar = calendar
    policy.supervisor = supervisor
    policy.save()
    logger.info("%s set %s", acting_user or "postroom", policy)
    return policy


def do_remove_policy(mailbox: Mailbox, *, rule: DistributionRule | None = None) -> bool:
    return SlaPolicy.objects.filter(mailbox=mailbox, rule=rule).delete()[0] > 0


def deadline(policy: SlaPolicy, start: datetime, minutes: int) -> datetime:
    """`minutes` of the policy's working time after `start` (no calendar: of any time)."""
    calendar = policy.calendar
    if calendar is None:
        return start + timedelta(minutes=minutes)
    try:
        return calendars.add_working_minutes(
            calendar.intervals, calendar.holidays, calendar.time_zone, start, minutes
        )
    except calendars.CalendarError as exc:
        raise SlaError(f"the calendar “{calendar.name}”: {exc}") from None


def supervisors_of(policy: SlaPolicy | None, mailbox: Mailbox) -> list:
    """Whom a breach escalates to: the policy's supervisor; else the mailbox's managers
    (a manage grant, to them or to their department); else the administrators."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True)
    if policy is not None and policy.supervisor_id and policy.supervisor.is_active:
        return [policy.supervisor]
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        return list(users.filter(pk=mailbox.owner_id))
    grants = MailboxGrant.objects.filter(mailbox=mailbox, level=MailboxGrant.Level.MANAGE)
    managers = users.filter(
        Q(pk__in=grants.filter(user__isnull=False).values("user"))
        | Q(groups__in=grants.filter(group__isnull=False).values("group"))
    ).distinct()
    return list(managers) or list(users.filter(is_superuser=True))


# ----------------------------------------------------------------- starting clocks

_ITEM_ORDER = (Lead, Deal, SmartItem, Contact)


def _item_for(result) -> object | None:
    """The CRM item the email landed on: the lead, deal or smart item it created or
    joined, else its contact."""
    if result is None:
        return None
    items = list(result.created) + list(result.bound)
    for model in _ITEM_ORDER:
        for item in items:
            if isinstance(item, model) and item.pk is not None:
                return item
    return None


def start_clocks(mailbox: Mailbox, messages, results: dict, router) -> int:
    """After a batch of the mailbox's mail was captured and assigned (the pipeline's
    capture step, same transaction): a clock and its task for each conversation of it
    whose customer now waits and has no clock running. Returns how many started; a
    failure costs the deadlines (logged), never the capture."""
    try:
        with transaction.atomic():
            return _start_clocks(mailbox, messages, results, router)
    except Exception:
        logger.exception("starting reply deadlines in %s failed", mailbox.address)
        return 0


def _start_clocks(mailbox: Mailbox, messages, results: dict, router) -> int:
    policies = {
        p.rule_id: p for p in SlaPolicy.objects.filter(mailbox=mailbox).select_related("calendar")
    }
    if not policies:
        return 0
    by_conversation: dict[int, tuple] = {}
    newest: dict[int, datetime] = {}  # the batch's newest customer email per conversation
    for message in messages:
        conversation = router.conversations.get(message.pk)
        result = results.get(message.pk)
        if conversation is None or result is None or result.direction != "in":
            continue
        by_conversation[conversation.pk] = (conversation, result)
        when = message.date or message.received_at or message.created_at
        if when is not None and (conversation.pk not in newest or when > newest[conversation.pk]):
            newest[conversation.pk] = when
    if not by_conversation:
        return 0
    ids = list(by_conversation)
    waiting = dict(
        Conversation.objects.filter(pk__in=ids, waiting_since__isnull=False)
        .exclude(status=Conversation.Status.CLOSED)
        .values_list("pk", "waiting_since")
    )
    running = set(
        SlaClock.objects.filter(conversation_id__in=ids, ended_at__isnull=True).values_list(
            "conversation_id", flat=True
        )
    )
    answered = set(
        ConversationEvent.objects.filter(
            conversation_id__in=ids, kind=ConversationEvent.Kind.REPLIED
        ).values_list("conversation_id", flat=True)
    )
    earlier, ended = {}, {}
    for conversation_id, policy_id, ended_at in (
        SlaClock.objects.filter(conversation_id__in=ids)
        .order_by("started_at")
        .values_list("conversation_id", "policy_id", "ended_at")
    ):
        earlier[conversation_id] = policy_id
        if ended_at is not None:
            ended[conversation_id] = max(ended_at, ended.get(conversation_id, ended_at))
    now = timezone.now()
    started = 0
    for conversation_id, (conversation, result) in by_conversation.items():
        since = waiting.get(conversation_id)
        if since is not None and conversation_id in ended and since < ended[conversation_id]:
            # Closed while the customer waited, and they wrote again: a new wait.
            since = newest.get(conversation_id, since)
        if since is None or conversation_id in running or since < now - LATE_EMAIL:
            continue
        kind = SlaClock.Kind.NEXT if conversation_id in answered else SlaClock.Kind.FIRST
        policy = _policy_for(conversation, kind, policies, router, earlier.get(conversation_id))
        if policy is None:
            continue
        try:
            _start(conversation, policy, kind, since, _item_for(result))
        except SlaError as exc:  # a calendar changed into one that cannot work
            logger.warning("no reply deadline for conversation %s: %s", conversation_id, exc)
            continue
        started += 1
    return started


def _policy_for(conversation, kind, policies, router, earlier_policy_id) -> SlaPolicy | None:
    """The policy of the rule that assigned the conversation (its first clock's, for a
    next reply), else the mailbox's."""
    if kind == SlaClock.Kind.NEXT and earlier_policy_id is not None:
        for policy in policies.values():
            if policy.pk == earlier_policy_id:
                return policy
    decision = router.decisions.get(("conversation", conversation.pk))
    rule_id = decision.rule.pk if decision is not None and decision.rule is not None else None
    return policies.get(rule_id) or policies.get(None)


def _start(conversation, policy: SlaPolicy, kind: str, since: datetime, item) -> SlaClock:
    minutes = (
        policy.first_reply_minutes if kind == SlaClock.Kind.FIRST else policy.next_reply_minutes
    )
    due = deadline(policy, since, minutes)
    escalate = deadline(policy, due, policy.grace_minutes) if policy.grace_minutes else due
    title = f"Reply to the client within {in_words(minutes)}"
    if policy.calendar is not None:
        title += f" ({policy.calendar.name} hours)"
    with transaction.atomic():
        task = do_create_task(
            f"{title}: {conversation.subject or '(no subject)'}",
            item=item,
            responsible=conversation.responsible if conversation.responsible_id else None,
            deadline=due,
        )
        clock = SlaClock.objects.create(
            conversation_id=conversation.pk,
            mailbox_id=conversation.mailbox_id,
            policy=policy,
            kind=kind,
            task=task,
            started_at=since,
            due_at=due,
            escalate_at=escalate,
        )
        Conversation.objects.filter(pk=conversation.pk).update(reply_due_at=due)
    conversation.reply_due_at = due
    return clock


# ----------------------------------------------------------------- the workflow's news


def _running(conversation_ids: Iterable[int]):
    return SlaClock.objects.filter(
        conversation_id__in=list(conversation_ids), ended_at__isnull=True
    )


@workflow.listen("assigned")
def conversations_assigned(assignments: dict[int, int | None]) -> None:
    """The task of a running clock moves with the conversation to its new person."""
    clocks = dict(
        _running(assignments).exclude(task=None).values_list("conversation_id", "task_id")
    )
    by_user: dict[int | None, list[int]] = {}
    for conversation_id, task_id in clocks.items():
        by_user.setdefault(assignments[conversation_id], []).append(task_id)
    for user_id, task_ids in by_user.items():
        Task.objects.filter(pk__in=task_ids, done_at__isnull=True).update(responsible_id=user_id)


@workflow.listen("answered")
def conversations_answered(answered: dict[int, datetime]) -> None:
    """A reply went out: the clock ends (in time or late) and its task is done."""
    _end(answered, SlaClock.Outcome.ANSWERED, "replied")


@workflow.listen("closed")
def conversations_closed(closed: dict[int, datetime]) -> None:
    """Closed without a reply: nobody waits any more; the clock stops, neither hit nor
    breached, and its task is done."""
    _end(closed, SlaClock.Outcome.STOPPED, "closed without a reply")


def _end(moments: dict[int, datetime], outcome: str, why: str) -> None:
    clocks = list(_running(moments).select_related("task"))
    if not clocks:
        return
    for clock in clocks:
        clock.ended_at = moments[clock.conversation_id] or timezone.now()
        clock.outcome = outcome
    SlaClock.objects.bulk_update(clocks, ["ended_at", "outcome"])
    Conversation.objects.filter(pk__in=[c.conversation_id for c in clocks]).update(
        reply_due_at=None
    )
    for clock in clocks:
        if clock.task is not None:
            do_finish_task(clock.task, text=f"Done ({why}): {clock.task.title}")


# ----------------------------------------------------------------- the sweep


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Raise every deadline due by `now` not raised yet: "due soon", "breached", then
    the supervisor's escalation. Idempotent, and safe with several runners at once (each
    batch is claimed under row locks that others skip). Returns how many of each."""
    now = now or timezone.now()
    running = SlaClock.objects.filter(ended_at__isnull=True)
    soon_limit = now + soon_window()
    counts = {"soon": 0, "breached": 0, "escalated": 0}
    # "Due soon" only of what is not due yet: a deadline that passed before anyone said
    # "soon" (after a long stop, most of them) is told by its breach, and is neither
    # claimed nor marked for "soon" (its soon_notified_at stays empty: nobody was told).
    steps = (
        ("soon", running.filter(soon_notified_at__isnull=True, due_at__gt=now,
                                due_at__lte=soon_limit),
         "soon_notified_at", _raise_soon),
        ("breached", running.filter(breached_at__isnull=True, due_at__lte=now),
         "breached_at", _raise_breach),
        ("escalated", running.filter(escalated_at__isnull=True, escalate_at__lte=now,
                                     breached_at__isnull=False),
         "escalated_at", _raise_escalation),
    )  # fmt: skip
    known = _Known()
    for name, queryset, mark, raise_them in steps:
        while True:
            with transaction.atomic():
                rows = _claim(queryset, mark, now)
                if rows:
                    counts[name] += raise_them(known.due(rows), now)
            if len(rows) < SWEEP_BATCH:
                break
    if any(counts.values()):
        logger.info("SLA sweep: %s", counts)
    return counts


def _claim(queryset, mark: str, now: datetime) -> list[tuple]:
    """Up to SWEEP_BATCH of the queryset's clocks marked raised at `now`, returning what
    raising them needs, in one statement: UPDATE ... WHERE id IN (the first of them, on
    PostgreSQL those no other runner holds: FOR UPDATE SKIP LOCKED) RETURNING due_at,
    conversation, its subject and responsible person, policy and mailbox. (Reading the
    ids, then updating and reading them by a list of 1,000 ids, took three statements.)"""
    inner = queryset.order_by().values("pk")[:SWEEP_BATCH]
    if connection.features.has_select_for_update_skip_locked:
        inner = inner.select_for_update(skip_locked=True)
    inner_sql, params = inner.query.sql_with_params()
    name = connection.ops.quote_name
    clock, conversation = name(SlaClock._meta.db_table), name(Conversation._meta.db_table)
    column = name(SlaClock._meta.get_field(mark).column)

    def of_conversation(field: str) -> str:
        return (
            f"(SELECT {conversation}.{name(field)} FROM {conversation} "  # noqa: S608
            f"WHERE {conversation}.{name('id')} = {clock}.{name('conversation_id')})"
        )

    sql = (
        f"UPDATE {clock} SET {column} = %s WHERE {name('id')} IN ({inner_sql}) "  # noqa: S608
        f"RETURNING {clock}.{name('due_at')}, {clock}.{name('conversation_id')}, "
        f"{of_conversation('subject')}, {of_conversation('responsible_id')}, "
        f"{clock}.{name('policy_id')}, {clock}.{name('mailbox_id')}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(now), *params])
        return cursor.fetchall()


def _moment(value) -> datetime:
    """A datetime as a raw cursor returns it (SQLite: text in UTC)."""
    if isinstance(value, str):
        value = parse_datetime(value)
    return timezone.make_aware(value, UTC) if timezone.is_naive(value) else value


@dataclass
class _Due:
    """What raising a deadline needs of it, read without building whole models (a
    sweep after a long stop raises thousands at once)."""

    due_at: datetime
    conversation_id: int
    subject: str
    mailbox_address: str
    responsible: object | None
    policy: SlaPolicy | None
    mailbox: Mailbox

    @property
    def label(self) -> str:
        return f"“{self.subject or '(no subject)'}” in {self.mailbox_address}"


class _Known:
    """The people, policies and mailboxes of one sweep's clocks, each read once."""

    def __init__(self) -> None:
        self.people: dict[int, object] = {}
        self.policies: dict[int, SlaPolicy] = {}
        self.mailboxes: dict[int, Mailbox] = {}

    def due(self, rows: list[tuple]) -> list[_Due]:
        from django.contrib.auth import get_user_model

        def load(into: dict, queryset, wanted: set) -> None:
            if missing := wanted - into.keys():
                into.update(queryset.in_bulk(missing))

        load(self.people, get_user_model().objects, {r[3] for r in rows if r[3]})
        load(self.policies, SlaPolicy.objects.select_related("supervisor"),
             {r[4] for r in rows if r[4]})  # fmt: skip
        load(self.mailboxes, Mailbox.objects, {r[5] for r in rows})
        return [
            _Due(_moment(due_at), conversation_id, subject or "",
                 self.mailboxes[mailbox_id].address, self.people.get(responsible_id),
                 self.policies.get(policy_id), self.mailboxes[mailbox_id])
            for due_at, conversation_id, subject, responsible_id, policy_id, mailbox_id in rows
        ]  # fmt: skip


def _tell(items: list[tuple]) -> int:
    from postroom.accounts.notify import notify_many

    return len(notify_many(items))


def _when(moment: datetime) -> str:
    return timezone.localtime(moment).strftime("%a %d %b %H:%M")


def _url_of():
    """conversation id -> its page's address; reversed once per sweep, not per deadline."""
    marker = 987654321
    pattern = workflow.conversation_url(Conversation(pk=marker))
    return lambda conversation_id: pattern.replace(str(marker), str(conversation_id))


def _supervisors(clocks: list[_Due]):
    """supervisors_of, asked once per policy and mailbox of the batch."""
    found: dict[tuple, list] = {}

    def of(clock: _Due) -> list:
        key = (clock.policy.pk if clock.policy else None, clock.mailbox.pk)
        if key not in found:
            found[key] = supervisors_of(clock.policy, clock.mailbox)
        return found[key]

    return of


def _raise_soon(clocks: list[_Due], now: datetime) -> int:
    url = _url_of()
    items = [
        (
            clock.responsible,
            "deadline_soon",
            f"Reply due soon: {clock.label} is due at {_when(clock.due_at)}",
            url(clock.conversation_id),
        )
        for clock in clocks
        if clock.due_at > now and clock.responsible is not None
    ]
    _tell(items)
    return len(items)


def _raise_breach(clocks: list[_Due], now: datetime) -> int:
    items, supervisors, url = [], _supervisors(clocks), _url_of()
    for clock in clocks:
        text = f"Reply deadline missed: {clock.label} was due at {_when(clock.due_at)}"
        if clock.responsible is not None:
            items.append((clock.responsible, "deadline_breached", text, url(clock.conversation_id)))
        else:  # nobody to tell but those who supervise
            text += " and nobody is responsible for it"
            items += [
                (user, "deadline_breached", text, url(clock.conversation_id))
                for user in supervisors(clock)
            ]
    _tell(items)
    return len(clocks)


def _raise_escalation(clocks: list[_Due], now: datetime) -> int:
    items, supervisors, url = [], _supervisors(clocks), _url_of()
    for clock in clocks:
        late = in_words(max(1, int((now - clock.due_at).total_seconds() // 60)))
        who = clock.responsible or "nobody"
        text = f"Still unanswered {late} after its deadline: {clock.label} (responsible: {who})"
        items += [
            (user, "deadline_breached", text, url(clock.conversation_id))
            for user in supervisors(clock)
        ]
    _tell(items)
    return len(clocks)


# ----------------------------------------------------------------- reading


def state_of(due_at: datetime | None, now: datetime | None = None) -> str:
    """ "overdue", "soon" or "" for a conversation's reply deadline."""
    if due_at is None:
        return ""
    now = now or timezone.now()
    if due_at <= now:
        return "overdue"
    return "soon" if due_at <= now + soon_window() else ""
