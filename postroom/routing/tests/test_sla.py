"""Reply deadlines: a customer's new email gets a clock and a CRM task on its item; the
reply ends both, a reassignment moves the task, the sweep raises what is due once."""

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.contenttypes.models import ContentType

from postroom import pipeline
from postroom.accounts.models import Notification
from postroom.crm.models import Lead, Task, TimelineEntry
from postroom.mail.ingest import FetchedMessage, store_copies
from postroom.mail.models import Conversation
from postroom.mail.workflow import do_assign, do_close, record_reply
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.routing import sla
from postroom.routing.actions import do_add_rule
from postroom.routing.calendars import parse_week
from postroom.routing.models import BusinessHours, SlaClock
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def deliver():
    uids = iter(range(1, 10_000))

    def deliver(mailbox, *raws: bytes) -> list[int]:
        folder = Folder.objects.get(mailbox=mailbox, role=Folder.Role.INBOX)
        ids = store_copies(folder, 1, [FetchedMessage(uid=next(uids), raw=r) for r in raws])
        pipeline.ingest.call(ids, mailbox.pk)
        if len(ids) > 1:
            pipeline.capture.call(ids, mailbox.pk)
        return ids

    return deliver


@pytest.fixture
def team():
    """A sales mailbox whose new mail goes to Alice; Mike manages it."""
    alice, bob, mike = (UserFactory(username=n) for n in ("alice", "bob", "mike"))
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead", crm_responsible=alice)
    for user in (alice, bob):
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.REPLY)
    do_grant_mailbox(mailbox, mike, MailboxGrant.Level.MANAGE)
    do_add_rule(mailbox, kind="round-robin", queue_users=[alice])
    return mailbox, alice, bob, mike


def asked_at(moment: datetime, subject="Price request", sender="anna@customer.test") -> bytes:
    return make_email(sender=sender, subject=subject, date=moment)


def an_hour_ago() -> datetime:
    return datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def test_a_new_customer_email_gets_a_task_on_its_lead_with_the_deadline(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    asked = an_hour_ago()
    deliver(mailbox, asked_at(asked))
    conversation = Conversation.objects.get()
    clock = SlaClock.objects.get()
    assert clock.kind == "first" and clock.due_at == asked + timedelta(hours=2)
    assert conversation.reply_due_at == clock.due_at
    task = clock.task
    assert task.title.startswith("Reply to the client within 2 hours")
    assert (task.responsible, task.deadline, task.done_at) == (alice, clock.due_at, None)
    lead = Lead.objects.get()
    assert task.item == lead
    assert TimelineEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Lead), object_id=lead.pk, task=task
    ).exists()


def test_the_deadline_is_counted_in_the_calendars_hours(deliver, team):
    mailbox = team[0]
    office = BusinessHours.objects.create(
        name="Office", time_zone="UTC",
        intervals=[i.as_list() for i in parse_week("mon-sun 00:00-24:00")],
    )  # fmt: skip
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60, calendar=office)
    asked = an_hour_ago()
    deliver(mailbox, asked_at(asked))
    clock = SlaClock.objects.get()
    assert clock.due_at == asked + timedelta(minutes=30)
    assert "(Office hours)" in clock.task.title


def test_without_a_policy_no_clock_starts(deliver, team):
    deliver(team[0], asked_at(an_hour_ago()))
    assert not SlaClock.objects.exists() and not Task.objects.exists()
    assert Conversation.objects.get().reply_due_at is None


def test_old_mail_fetched_late_starts_no_clock(deliver, team):
    sla.do_set_policy(team[0], first_reply_minutes=120, next_reply_minutes=480)
    deliver(team[0], asked_at(datetime.now(UTC) - timedelta(days=5)))
    assert not SlaClock.objects.exists()


def test_the_reply_completes_the_task_and_ends_the_clock_in_time(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    deliver(mailbox, asked_at(an_hour_ago()))
    conversation = Conversation.objects.get()
    message = conversation.messages.get()
    record_reply(
        conversation, message, author=alice, from_address=mailbox.address,
        sent_at=datetime.now(UTC),
    )  # fmt: skip
    clock = SlaClock.objects.get()
    assert clock.outcome == "answered" and clock.hit is True
    assert clock.task.done_at is not None
    conversation.refresh_from_db()
    assert conversation.reply_due_at is None
    assert TimelineEntry.objects.filter(task=clock.task, text__startswith="Done (replied)").exists()


def test_a_reassignment_moves_the_task(deliver, team):
    mailbox, alice, bob, mike = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    deliver(mailbox, asked_at(an_hour_ago()))
    conversation = Conversation.objects.get()
    do_assign(conversation, bob, acting_user=mike)
    assert Task.objects.get().responsible == bob


def test_the_customers_next_email_after_a_reply_gets_the_next_reply_deadline(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    first = an_hour_ago() - timedelta(hours=1)
    (question,) = deliver(mailbox, make_email(subject="Price", message_id="<q1@customer.test>",
                                              date=first))  # fmt: skip
    conversation = Conversation.objects.get()
    record_reply(conversation, conversation.messages.get(), author=alice,
                 from_address=mailbox.address, sent_at=first + timedelta(minutes=10))  # fmt: skip
    again = an_hour_ago()
    deliver(mailbox, make_email(subject="Re: Price", in_reply_to="<q1@customer.test>", date=again))
    clocks = list(SlaClock.objects.order_by("pk"))
    assert [c.kind for c in clocks] == ["first", "next"]
    assert clocks[1].due_at == again + timedelta(hours=8) and clocks[1].ended_at is None


def test_a_rules_policy_wins_over_the_mailboxs(deliver, team):
    mailbox, alice, _, _ = team
    vip = do_add_rule(mailbox, kind="keyword", keywords="VIP", target_user=alice, position=1)
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    sla.do_set_policy(mailbox, rule=vip, first_reply_minutes=15, next_reply_minutes=60)
    asked = an_hour_ago()
    deliver(mailbox, asked_at(asked, subject="VIP order"))
    assert SlaClock.objects.get().due_at == asked + timedelta(minutes=15)


def test_closing_without_a_reply_stops_the_clock(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    deliver(mailbox, asked_at(an_hour_ago()))
    do_close(Conversation.objects.get(), acting_user=alice)
    clock = SlaClock.objects.get()
    assert clock.outcome == "stopped" and clock.hit is None and clock.task.done_at is not None


# ------------------------------------------------------------------- the sweep


def told(user, kind) -> list[str]:
    return list(Notification.objects.filter(user=user, kind=kind).values_list("text", flat=True))


def test_the_sweep_raises_a_breach_once_to_the_responsible_person(deliver, team):
    mailbox, alice, _, mike = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60, grace_minutes=60)
    deliver(mailbox, asked_at(an_hour_ago()))
    assert sla.sweep() == {"soon": 0, "breached": 1, "escalated": 0}
    assert sla.sweep() == {"soon": 0, "breached": 0, "escalated": 0}
    (text,) = told(alice, "deadline_breached")
    assert "Reply deadline missed" in text and "Price request" in text
    assert not told(mike, "deadline_breached")
    assert SlaClock.objects.get().breached_at is not None


def test_after_the_grace_the_supervisor_is_told_the_mailboxs_managers_by_default(deliver, team):
    mailbox, alice, _, mike = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60, grace_minutes=60)
    deliver(mailbox, asked_at(an_hour_ago()))
    due = SlaClock.objects.get().due_at
    sla.sweep(now=due + timedelta(minutes=59))
    assert not told(mike, "deadline_breached")
    assert sla.sweep(now=due + timedelta(minutes=61))["escalated"] == 1
    (text,) = told(mike, "deadline_breached")
    assert "Still unanswered" in text and "responsible: alice" in text


def test_a_policys_own_supervisor_is_told_instead_of_the_managers(deliver, team):
    mailbox, alice, bob, mike = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60, grace_minutes=0,
                      supervisor=bob)  # fmt: skip
    deliver(mailbox, asked_at(an_hour_ago()))
    sla.sweep()
    assert told(bob, "deadline_breached") and not told(mike, "deadline_breached")


def test_due_soon_is_told_before_the_deadline(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=80, next_reply_minutes=480)
    deliver(mailbox, asked_at(an_hour_ago()))  # due in 20 minutes
    assert sla.sweep()["soon"] == 1
    assert told(alice, "deadline_soon") and not told(alice, "deadline_breached")
    assert sla.state_of(Conversation.objects.get().reply_due_at) == "soon"


def test_breaches_that_happened_while_no_worker_ran_are_raised_at_the_next_sweep(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60, grace_minutes=600)
    for n in range(3):
        deliver(mailbox, asked_at(an_hour_ago(), subject=f"Question {n}",
                                  sender=f"c{n}@customer.test"))  # fmt: skip
    later = datetime.now(UTC) + timedelta(days=3)  # the worker was down for days
    assert sla.sweep(now=later) == {"soon": 0, "breached": 3, "escalated": 3}
    assert len(told(alice, "deadline_breached")) == 3


def test_an_answered_conversation_is_never_raised(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60)
    deliver(mailbox, asked_at(datetime.now(UTC) - timedelta(minutes=5)))
    conversation = Conversation.objects.get()
    record_reply(conversation, conversation.messages.get(), author=alice,
                 from_address=mailbox.address, sent_at=datetime.now(UTC))  # fmt: skip
    assert sla.sweep(now=datetime.now(UTC) + timedelta(days=1)) == {
        "soon": 0, "breached": 0, "escalated": 0,
    }  # fmt: skip


def test_one_sweep_costs_the_same_queries_for_1_or_50_breaches(team):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    mailbox, alice, _, _ = team
    policy = sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60)

    def overdue(count: int) -> None:
        start = datetime.now(UTC) - timedelta(hours=2)
        for n in range(count):
            conversation = Conversation.objects.create(
                mailbox=mailbox, last_message_at=start, responsible=alice, subject=f"Q{n}"
            )
            SlaClock.objects.create(
                conversation=conversation, mailbox=mailbox, policy=policy, kind="first",
                started_at=start, due_at=start + timedelta(minutes=30),
                escalate_at=start + timedelta(hours=1),
            )  # fmt: skip

    used = []
    for count in (1, 50):
        overdue(count)
        with CaptureQueriesContext(connection) as queries:
            assert sla.sweep() == {"soon": 0, "breached": count, "escalated": count}
        used.append(len(queries))
    assert used[0] == used[1]


@pytest.mark.parametrize(
    ("first", "following", "reason"),
    [(0, 60, "first reply deadline must be at least 1 minute"),
     (60, 0, "next reply deadline must be at least 1 minute")],
)  # fmt: skip
def test_a_policy_of_zero_minutes_is_refused_with_the_reason(team, first, following, reason):
    with pytest.raises(sla.SlaError, match=reason):
        sla.do_set_policy(team[0], first_reply_minutes=first, next_reply_minutes=following)


def test_a_calendar_without_working_hours_is_refused_for_a_policy(team):
    empty = BusinessHours.objects.create(name="Never", intervals=[])
    with pytest.raises(sla.SlaError, match="has no working hours"):
        sla.do_set_policy(team[0], first_reply_minutes=60, next_reply_minutes=60, calendar=empty)


def test_the_lead_page_shows_the_deadline_task_overdue(deliver, team):
    from django.urls import reverse

    from postroom.testing.web import logged_in

    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=30, next_reply_minutes=60)
    deliver(mailbox, asked_at(an_hour_ago()))
    alice.is_superuser = True
    alice.save()
    html = logged_in(alice).get(reverse("web:lead", args=[Lead.objects.get().pk])).content
    assert b"Reply to the client within 30 minutes" in html
    assert b'data-due="overdue"' in html


def test_the_customer_writing_again_after_a_close_without_reply_gets_a_new_deadline(deliver, team):
    mailbox, alice, _, _ = team
    sla.do_set_policy(mailbox, first_reply_minutes=120, next_reply_minutes=480)
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    deliver(mailbox, make_email(subject="Price", message_id="<p1@customer.test>", date=first))
    do_close(Conversation.objects.get(), acting_user=alice)
    again = an_hour_ago()
    deliver(mailbox, make_email(subject="Re: Price", in_reply_to="<p1@customer.test>", date=again))
    clocks = list(SlaClock.objects.order_by("pk"))
    assert [(c.kind, c.outcome) for c in clocks] == [("first", "stopped"), ("first", "")]
    assert clocks[1].started_at == again and clocks[1].due_at == again + timedelta(hours=2)
