"""The dashboard's figures agree with the rows: a month of mail in two mailboxes is
generated, each figure is computed again here by walking the rows one by one, and the
two must be equal, for all mailboxes and for one mailbox and one team."""

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from postroom.mail.models import Conversation, ConversationEvent, ConversationMessage, Message
from postroom.routing import reports
from postroom.routing.models import SlaClock
from postroom.testing.factories import (
    ConversationFactory,
    DepartmentFactory,
    MailboxFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

START, END = date(2026, 11, 1), date(2026, 11, 20)
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.fixture
def month():
    rng = random.Random(15)
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    support = MailboxFactory(name="Support", address="support@acme.test")
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    UserFactory(username="colleague")  # colleague@acme.test: their mail is not incoming
    team = DepartmentFactory(name="Sales team")
    team.group.user_set.add(alice, carol)
    people = [alice, bob, carol, None]
    numbers = iter(range(1, 100_000))
    for n in range(60):
        mailbox = rng.choice([sales, support])
        asked = datetime(2026, 10, 28, tzinfo=UTC) + timedelta(minutes=rng.randrange(0, 40 * 1440))
        status = rng.choice(["open", "open", "pending", "closed"])
        waiting = asked if status == "open" and rng.random() < 0.6 else None
        conversation = ConversationFactory(
            mailbox=mailbox, subject=f"Q{n}", responsible=rng.choice(people), status=status,
            waiting_since=waiting, last_message_at=asked,
            message_count=rng.choice([1, 1, 1, 0]) if status == "open" else 1,
        )  # fmt: skip
        senders = [(f"c{n}@customer.test", "normal", asked)]
        senders += [(mailbox.address, "normal", asked + timedelta(hours=1)),  # ours
                    ("colleague@acme.test", "normal", asked + timedelta(hours=2)),
                    (f"c{n}@customer.test", rng.choice(["normal", "auto_reply"]),
                     asked + timedelta(days=1))][: rng.randrange(0, 4)]  # fmt: skip
        for sender, kind, when in senders:
            number = next(numbers)
            message = Message.objects.create(
                identity=f"m{number}", raw_sha256="0" * 64, raw_size=1, status="parsed",
                from_address=sender, kind=kind, date=when,
            )  # fmt: skip
            ConversationMessage.objects.create(
                conversation=conversation, message=message, mailbox=mailbox
            )
        replied_at = asked
        for _ in range(rng.randrange(0, 3)):
            replied_at += timedelta(minutes=rng.randrange(5, 3000))
            ConversationEvent.objects.create(
                conversation=conversation, kind="replied", actor=rng.choice(people[:3]),
                created_at=replied_at,
                detail={"waited_seconds": int((replied_at - asked).total_seconds()),
                        "forward": rng.random() < 0.15},
            )  # fmt: skip
        if rng.random() < 0.8:
            due = asked + timedelta(hours=rng.choice([1, 2, 8]))
            outcome = rng.choice(["answered", "answered", "stopped", ""])
            ended = asked + timedelta(hours=rng.choice([0.5, 3, 10])) if outcome else None
            SlaClock.objects.create(
                conversation=conversation, mailbox=mailbox, kind="first", started_at=asked,
                due_at=due, escalate_at=due, ended_at=ended, outcome=outcome,
            )  # fmt: skip
    return sales, support, team


def expected(scope: reports.Scope) -> dict:
    """Each figure again, the slow way: walking every row."""
    zone = ZoneInfo(scope.zone)
    in_team = (lambda user_id: True) if scope.member_ids is None else scope.member_ids.__contains__
    ours = {"sales@acme.test", "support@acme.test"}
    ours |= {u.email for u in reports.User.objects.all()}
    incoming = Counter()
    for link in ConversationMessage.objects.select_related("message", "conversation"):
        m = link.message
        if (
            link.mailbox_id in scope.mailbox_ids and m.kind == "normal"
            and m.from_address not in ours and scope.since <= m.date < scope.until
            and in_team(link.conversation.responsible_id)
        ):  # fmt: skip
            incoming[m.date.astimezone(zone).date()] += 1
    waits, replies = [], Counter()
    for conversation in Conversation.objects.filter(mailbox_id__in=scope.mailbox_ids):
        events = [
            e for e in conversation.events.filter(kind="replied").order_by("created_at")
            if not e.detail.get("forward")
        ]  # fmt: skip
        first = events[0] if events else None
        in_period = first is not None and scope.since <= first.created_at < scope.until
        if in_period and in_team(conversation.responsible_id):
            waits.append(first.detail["waited_seconds"])
        for e in events:
            if scope.since <= e.created_at < scope.until and in_team(e.actor_id):
                replies[e.actor_id] += 1
    hit = breached = 0
    for clock in SlaClock.objects.select_related("conversation"):
        if clock.mailbox_id not in scope.mailbox_ids or not (
            scope.since <= clock.due_at < scope.until
        ):
            continue
        if not in_team(clock.conversation.responsible_id):
            continue
        if clock.outcome == "answered":
            hit += clock.ended_at <= clock.due_at
            breached += clock.ended_at > clock.due_at
        elif clock.outcome == "" and clock.due_at <= NOW:
            breached += 1
    open_now = [
        c for c in Conversation.objects.filter(mailbox_id__in=scope.mailbox_ids, status="open")
        if c.message_count > 0 and in_team(c.responsible_id)
    ]  # fmt: skip
    per_person = Counter(c.responsible_id for c in open_now)
    oldest = sorted((c for c in open_now if c.waiting_since), key=lambda c: (c.waiting_since, c.pk))
    waits.sort()
    return {
        "incoming": [(d, incoming[d]) for d in scope.days()],
        "first_reply": {
            "count": len(waits),
            "median_seconds": (
                None if not waits else waits[len(waits) // 2] if len(waits) % 2
                else (waits[len(waits) // 2 - 1] + waits[len(waits) // 2]) / 2
            ),
            "p90_seconds": waits[max(1, -(-9 * len(waits) // 10)) - 1] if waits else None,
        },
        "sla": {"hit": hit, "breached": breached,
                "rate": round(hit / (hit + breached), 4) if hit + breached else None},
        "open_per_person": sorted(per_person.items(), key=lambda r: (-r[1], r[0] or 0)),
        "oldest_waiting": [c.pk for c in oldest[: reports.OLDEST]],
        "replies_per_person": sorted(replies.items(), key=lambda r: (-r[1], r[0] or 0)),
    }  # fmt: skip


def computed(scope: reports.Scope) -> dict:
    report = reports.figures(scope, now=NOW)
    report["oldest_waiting"] = [r["conversation"] for r in report["oldest_waiting"]]
    report.pop("names")
    return report


def test_the_figures_of_all_mailboxes_agree_with_the_rows(month):
    sales, support, _ = month
    scope = reports.Scope.of([sales.pk, support.pk], start=START, end=END)
    want = expected(scope)
    assert sum(n for _, n in want["incoming"]) > 10 and want["first_reply"]["count"] > 5
    assert want["sla"]["hit"] and want["sla"]["breached"]
    assert computed(scope) == want


def test_the_figures_of_one_mailbox_and_one_team_agree_with_the_rows(month):
    sales, _, team = month
    scope = reports.Scope.of([sales.pk], start=START, end=END, department=team)
    assert computed(scope) == expected(scope)


def test_a_day_is_counted_in_the_sites_time_zone(month, settings):
    sales, support, _ = month
    settings.TIME_ZONE = "America/New_York"
    with timezone.override(ZoneInfo("America/New_York")):
        scope = reports.Scope.of([sales.pk, support.pk], start=START, end=END)
    assert scope.zone == "America/New_York"
    assert computed(scope) == expected(scope)


def test_percentiles_are_nearest_rank_and_the_median_the_middle():
    assert reports.percentile([5, 1, 3, 2, 4], 0.9) == 5
    assert reports.percentile(list(range(1, 11)), 0.9) == 9
    assert reports.median([4, 1, 3]) == 3 and reports.median([4, 1, 3, 2]) == 2.5
    assert reports.median([]) is None and reports.percentile([], 0.9) is None
