"""The manager's dashboard: figures of mailboxes, a team and a period, each from
aggregate queries over the rows (no figure is kept aside, so none can drift from them).

    scope = Scope.of([sales.pk], department=None, start=date(2026, 11, 1),
                     end=date(2026, 11, 30))
    report = figures(scope)   # incoming per day, first reply, SLA, open, oldest, replies

Definitions (the README says the same):
- incoming: the customers' emails of the period (not the organisation's own, nor
  auto-replies or bounces), by the day they were sent, in the site's time zone;
- first reply: how long the customer had waited for a conversation's first reply, of
  the first replies sent in the period (median and 90th percentile);
- SLA: the reply deadlines that fell in the period and are decided: hit (answered by
  the deadline) against breached (answered late, or still unanswered past it); a
  deadline stopped by closing the conversation counts as neither;
- open per person: open conversations now, by responsible person (None: nobody);
- oldest waiting: the open conversations whose customer has waited longest, now;
- replies per person: replies sent in the period (forwards are not replies).
A team narrows each figure to conversations its members are responsible for (replies:
those its members sent).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    CharField,
    Count,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    Value,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from postroom.accounts.models import Department, User
from postroom.crm.organisation import internal_domains
from postroom.mail.models import Conversation, ConversationEvent, ConversationMessage
from postroom.mailboxes.models import Mailbox

from .models import SlaClock

OLDEST = 10
P90 = 0.9


@dataclass(frozen=True)
class Scope:
    mailbox_ids: tuple[int, ...]
    start: date
    end: date  # included
    member_ids: tuple[int, ...] | None = None  # a team's members; None: everyone
    zone: str = settings.TIME_ZONE

    @classmethod
    def of(cls, mailbox_ids: Iterable[int], *, start: date, end: date, department=None) -> Scope:
        members = None
        if department is not None:
            members = tuple(sorted(department.members.values_list("pk", flat=True)))
        return cls(tuple(sorted(mailbox_ids)), start, end, members, _zone_name())

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=ZoneInfo(self.zone))

    @property
    def until(self) -> datetime:
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=ZoneInfo(self.zone))

    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


def _zone_name() -> str:
    return str(timezone.get_current_timezone())


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (share 0.5: the median's upper middle, 0.9: p90) of
    the values; None of none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[_rank(share, len(ordered)) - 1]


def _rank(share: float, count: int) -> int:
    """The nearest rank, ceil(share x count), in exact arithmetic (0.9 x 110 is
    99.00000000000001 in floating point, whose ceiling is one rank too high)."""
    fraction = Fraction(share).limit_denominator(10_000)
    return max(1, -(-fraction.numerator * count // fraction.denominator))


def median(values: list[float]) -> float | None:
    """The median: the middle value, or the mean of the two middle ones."""
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def organisation_addresses() -> tuple[set[str], set[str]]:
    """The organisation's own addresses (mailboxes and colleagues) and internal domains:
    mail from them is not incoming."""
    addresses = {a.lower() for a in Mailbox.objects.values_list("address", flat=True)}
    addresses |= {a.lower() for a in User.objects.values_list("email", flat=True)}
    return addresses, set(internal_domains())


# ----------------------------------------------------------------- the figures


def incoming_per_day(scope: Scope) -> list[tuple[date, int]]:
    ours, domains = organisation_addresses()
    links = ConversationMessage.objects.filter(
        mailbox_id__in=scope.mailbox_ids,
        message__date__gte=scope.since,
        message__date__lt=scope.until,
        message__kind="normal",
    ).exclude(message__from_address__in=ours)
    for domain in domains:
        links = links.exclude(message__from_address__iendswith="@" + domain)
    if scope.member_ids is not None:
        links = links.filter(conversation__responsible_id__in=scope.member_ids)
    per_day = _count_by_day(links, "message__date", scope)
    return [(day, per_day.get(day, 0)) for day in scope.days()]


def _count_by_day(rows, field: str, scope: Scope) -> dict[date, int]:
    """How many rows fall on each local day of the scope's zone. PostgreSQL truncates in
    the zone itself; SQLite would call Python once per row for that, so there the period
    is cut where the zone's offset changes (daylight saving) and each piece is counted
    with SQLite's own date(), shifted by the piece's offset."""
    zone = ZoneInfo(scope.zone)
    if connection.vendor != "sqlite":
        counted = (
            rows.annotate(day=TruncDate(field, tzinfo=zone)).values("day").annotate(n=Count("pk"))
        )
        return dict(counted.values_list("day", "n"))
    found: dict[date, int] = {}
    for start, end, offset in _constant_offsets(scope.since, scope.until, zone):
        shift = Value(f"{int(offset.total_seconds() // 60):+d} minutes")
        counted = (
            rows.filter(**{f"{field}__gte": start, f"{field}__lt": end})
            .annotate(day=Func(F(field), shift, function="date", output_field=CharField()))
            .values("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )
        for day, n in counted:
            found[date.fromisoformat(day)] = found.get(date.fromisoformat(day), 0) + n
    return found


def _constant_offsets(since: datetime, until: datetime, zone: ZoneInfo):
    """[since, until) cut into pieces of one UTC offset each: (start, end, offset)."""
    pieces, start = [], since
    step = timedelta(hours=6)
    while start < until:
        offset = start.astimezone(zone).utcoffset()
        end = start
        while end < until and end.astimezone(zone).utcoffset() == offset:
            end = min(end + step, until)
        if end < until or end.astimezone(zone).utcoffset() != offset:
            low, high = end - step, end  # the change is in (low, high]: to the second
            while (high - low) > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == offset:
                    low = middle
                else:
                    high = middle
            end = high
        pieces.append((start, end, offset))
        start = end
    return pieces


def _replies(scope: Scope):
    replies = ConversationEvent.objects.filter(kind=ConversationEvent.Kind.REPLIED)
    if not _every_mailbox(scope):  # else the join to the conversation would ask nothing
        replies = replies.filter(conversation__mailbox_id__in=scope.mailbox_ids)
    return replies.exclude(detail__forward=True)


def _every_mailbox(scope: Scope) -> bool:
    """Whether the scope holds every mailbox there is (an administrator's whole view)."""
    return not Mailbox.objects.exclude(pk__in=scope.mailbox_ids).exists()


def _first_replies(scope: Scope):
    """The conversations whose first reply (Conversation.first_reply_at, kept with each
    reply) was sent in the period."""
    firsts = Conversation.objects.filter(
        mailbox_id__in=scope.mailbox_ids,
        first_reply_at__gte=scope.since,
        first_reply_at__lt=scope.until,
    )
    if scope.member_ids is not None:
        firsts = firsts.filter(responsible_id__in=scope.member_ids)
    return firsts


def first_reply_seconds(scope: Scope) -> list[int]:
    """How long each conversation's customer waited for its first reply, of the first
    replies sent in the period."""
    waits = _first_replies(scope).values_list("first_reply_seconds", flat=True)
    return [w for w in waits if w is not None]


def first_reply(scope: Scope) -> dict[str, int | float | None]:
    """How many first replies the period had, and the wait for them: median (the middle
    one, or the mean of the two middle ones) and 90th percentile (nearest rank).
    PostgreSQL computes both from the index (conv_first_reply) and returns three
    numbers; elsewhere the waits are read and sorted here."""
    if connection.vendor != "postgresql":
        waits = first_reply_seconds(scope)
        return {"count": len(waits), "median_seconds": median(waits),
                "p90_seconds": percentile(waits, P90)}  # fmt: skip
    # percentile_disc takes the first value whose rank / count >= the share, in
    # floating point: a hair below 0.9 gives the exact nearest rank, as _rank does.
    waits = "first_reply_seconds"
    found = _first_replies(scope).aggregate(
        count=Count(waits),
        median_seconds=_Percentile(waits, 0.5, "percentile_cont", FloatField()),
        p90_seconds=_Percentile(waits, P90 - 1e-9, "percentile_disc", IntegerField()),
    )
    middle = found["median_seconds"]
    if middle is not None and float(middle).is_integer():
        middle = int(middle)  # as median() gives it: an int unless two middles differ
    return {"count": found["count"], "median_seconds": middle, "p90_seconds": found["p90_seconds"]}


class _Percentile(Aggregate):
    """percentile_cont / percentile_disc (share) WITHIN GROUP (ORDER BY expression)."""

    template = "%(function)s(%(share)s) WITHIN GROUP (ORDER BY %(expressions)s)"

    def __init__(self, expression, share: float, function: str, output_field) -> None:
        super().__init__(
            expression, function=function, share=repr(float(share)), output_field=output_field
        )


def sla_hits(scope: Scope, now: datetime | None = None) -> dict[str, int | float | None]:
    now = now or timezone.now()
    clocks = SlaClock.objects.filter(
        mailbox_id__in=scope.mailbox_ids, due_at__gte=scope.since, due_at__lt=scope.until
    )
    if scope.member_ids is not None:
        clocks = clocks.filter(conversation__responsible_id__in=scope.member_ids)
    answered = Q(outcome=SlaClock.Outcome.ANSWERED)
    counted = clocks.aggregate(
        hit=Count("pk", filter=answered & Q(ended_at__lte=F("due_at"))),
        late=Count("pk", filter=answered & Q(ended_at__gt=F("due_at"))),
        overdue=Count("pk", filter=Q(ended_at__isnull=True, due_at__lte=now)),
    )
    breached = counted["late"] + counted["overdue"]
    decided = counted["hit"] + breached
    return {
        "hit": counted["hit"],
        "breached": breached,
        "rate": round(counted["hit"] / decided, 4) if decided else None,
    }


def _open(scope: Scope):
    listed = Conversation.objects.filter(
        mailbox_id__in=scope.mailbox_ids, status=Conversation.Status.OPEN, message_count__gt=0
    )
    if scope.member_ids is not None:
        listed = listed.filter(responsible_id__in=scope.member_ids)
    return listed


def open_per_person(scope: Scope) -> list[tuple[int | None, int]]:
    rows = (_open(scope).order_by().values("responsible_id").annotate(n=Count("pk"))).values_list(
        "responsible_id", "n"
    )
    return sorted(rows, key=lambda r: (-r[1], r[0] or 0))


def oldest_waiting(scope: Scope, now: datetime | None = None) -> list[dict]:
    now = now or timezone.now()
    rows = (
        _open(scope)
        .filter(waiting_since__isnull=False)
        .order_by("waiting_since", "pk")
        .values("pk", "subject", "mailbox__name", "responsible_id", "waiting_since")[:OLDEST]
    )
    return [
        {
            "conversation": r["pk"],
            "subject": r["subject"] or "(no subject)",
            "mailbox": r["mailbox__name"],
            "responsible_id": r["responsible_id"],
            "waiting_since": r["waiting_since"],
            "waited_seconds": int((now - r["waiting_since"]).total_seconds()),
        }
        for r in rows
    ]


def replies_per_person(scope: Scope) -> list[tuple[int | None, int]]:
    replies = _replies(scope).filter(created_at__gte=scope.since, created_at__lt=scope.until)
    if scope.member_ids is not None:
        replies = replies.filter(actor_id__in=scope.member_ids)
    rows = replies.order_by().values("actor_id").annotate(n=Count("pk"))
    return sorted(rows.values_list("actor_id", "n"), key=lambda r: (-r[1], r[0] or 0))


def figures(scope: Scope, now: datetime | None = None) -> dict:
    """Every figure of the dashboard for the scope, people named."""
    now = now or timezone.now()
    report = {
        "incoming": incoming_per_day(scope),
        "first_reply": first_reply(scope),
        "sla": sla_hits(scope, now),
        "open_per_person": open_per_person(scope),
        "oldest_waiting": oldest_waiting(scope, now),
        "replies_per_person": replies_per_person(scope),
    }
    ids = {pk for pk, _ in report["open_per_person"] + report["replies_per_person"] if pk}
    ids |= {r["responsible_id"] for r in report["oldest_waiting"] if r["responsible_id"]}
    names = {u.pk: str(u) for u in User.objects.filter(pk__in=ids)}
    report["names"] = names
    return report


def name_of(names: dict, user_id: int | None) -> str:
    return names.get(user_id, "Nobody") if user_id else "Nobody"


def departments() -> list[Department]:
    return list(Department.objects.order_by("name"))
