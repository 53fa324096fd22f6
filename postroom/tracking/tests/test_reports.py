"""The tracking report (issue 16, point 5): each figure, as its CSV export gives it,
equals what this test computes from the rows themselves."""

import csv
import io
import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from postroom.crm.models import Deal, Lead
from postroom.mail.models import Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import MessageTemplate, OutboxMessage
from postroom.outbound.tests.conftest import receive
from postroom.testing.factories import DealFactory, LeadFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in
from postroom.tracking.models import TrackedEmail, TrackingEvent

pytestmark = pytest.mark.django_db(transaction=True)
DAYS = 7


@pytest.fixture
def world(sales, alice):
    """Two mailboxes, two senders, a template, and a fortnight of rows of every kind."""
    rng = random.Random(16)
    support = MailboxFactory(address="support@acme.test", name="Support", imap_host="")
    bob = UserFactory(username="bob", first_name="Bob")
    manager = UserFactory(username="mia")
    for mailbox in (sales, support):
        do_grant_mailbox(mailbox, manager, MailboxGrant.Level.MANAGE)
    offer = MessageTemplate.objects.create(mailbox=sales, name="Offer", subject="Offer")
    now = timezone.now()
    for i in range(40):
        sent_at = now - timedelta(days=rng.uniform(0, 2 * DAYS), minutes=1)
        outbox = OutboxMessage.objects.create(
            mailbox=rng.choice([sales, support]), author=rng.choice([alice, bob]),
            message_id=f"r{i}@acme.test", sender="x@acme.test", recipients=["c@customer.test"],
            raw=b"x", idempotency_key=f"report-{i}", status=rng.choice(["sent"] * 4 + ["failed"]),
            sent_at=sent_at, composition={"template": offer.pk} if i % 3 == 0 else {"to": []},
        )  # fmt: skip
        if i % 4 == 3:
            continue  # untracked
        tracked = TrackedEmail.objects.create(
            outbox=outbox, recipients=["c@customer.test"], links=["https://shop.test/"],
            first_read_at=sent_at + timedelta(hours=1) if rng.random() < 0.6 else None,
        )  # fmt: skip
        for prefetch in (False, True):
            if rng.random() < 0.3:
                TrackingEvent.objects.create(
                    email=tracked, recipient="c@customer.test", kind="click", at=sent_at,
                    is_prefetch=prefetch, url="https://shop.test/",
                )  # fmt: skip
    for _ in range(12):
        mailbox = rng.choice([sales, support, None])
        created = now - timedelta(days=rng.uniform(0, 2 * DAYS))
        lead = LeadFactory(source_mailbox=mailbox)
        Lead.objects.filter(pk=lead.pk).update(created_at=created)
        deal = DealFactory(source_mailbox=rng.choice([sales, support, None]))
        Deal.objects.filter(pk=deal.pk).update(created_at=created - timedelta(hours=5))
    for i in range(6):
        receive(sales, sender=f"c{i}@customer.test", date=now - timedelta(days=i * 2, minutes=5))
    return manager


def _days():
    today = timezone.localdate()
    return [today - timedelta(days=n) for n in range(DAYS - 1, -1, -1)]


def _in_period(moment) -> bool:
    return timezone.localtime(moment).date() >= _days()[0]


def _rate(part: int, whole: int) -> str:
    return str(round(part / whole, 4)) if whole else ""


def test_every_figure_equals_what_the_rows_say(world):
    client = logged_in(world)
    client.get("/reports/tracking/")  # warm
    start = _days()[0].isoformat()

    def get(figure):
        response = client.get("/reports/tracking/", {"csv": figure, "from": start})
        return list(csv.reader(io.StringIO(response.content.decode())))[1:]

    tracked = [
        t for t in TrackedEmail.objects.select_related("outbox__author", "outbox__mailbox")
        if _in_period(t.outbox.sent_at)
    ]  # fmt: skip
    clicked = {e.email_id for e in TrackingEvent.objects.filter(kind="click", is_prefetch=False)}
    keys = {
        "sender": lambda t: t.outbox.author.get_full_name() or t.outbox.author.username,
        "mailbox": lambda t: t.outbox.mailbox.name,
        "template": lambda t: "Offer" if t.outbox.composition.get("template") else "(no template)",
    }
    for group, key in keys.items():
        sent, opened, clicks = Counter(), Counter(), Counter()
        for t in tracked:
            sent[key(t)] += 1
            opened[key(t)] += t.first_read_at is not None
            clicks[key(t)] += t.pk in clicked
        expected = {
            label: [str(n), str(opened[label]), str(clicks[label]),
                    _rate(opened[label], n), _rate(clicks[label], n)]
            for label, n in sent.items()
        }  # fmt: skip
        assert {row[0]: row[1:] for row in get(f"rates_{group}")} == expected, group
    assert len(tracked) > 5

    sent_days = Counter(
        timezone.localtime(o.sent_at).date()
        for o in OutboxMessage.objects.filter(status="sent")
        if _in_period(o.sent_at)
    )
    received = Counter(timezone.localtime(m.date).date() for m in Message.objects.all())
    assert sum(sent_days.values()) > 3 and sum(received.values()) > 2
    assert get("mail_per_day") == [
        [d.isoformat(), str(sent_days[d]), str(received[d])] for d in _days()
    ]

    def created(model):
        return Counter(
            timezone.localtime(x.created_at).date()
            for x in model.objects.filter(source_mailbox__isnull=False)
            if _in_period(x.created_at)
        )

    leads, deals = created(Lead), created(Deal)
    assert sum(leads.values()) and sum(deals.values())
    assert get("items_per_day") == [[d.isoformat(), str(leads[d]), str(deals[d])] for d in _days()]
    per_mailbox = {
        name: [
            str(sum(1 for x in model.objects.filter(source_mailbox__name=name)
                    if _in_period(x.created_at)))
            for model in (Lead, Deal)
        ]
        for name in ("Sales", "Support")
    }  # fmt: skip
    assert {row[0]: row[1:] for row in get("items_per_mailbox")} == per_mailbox


def test_the_page_shows_the_charts_data_and_refuses_non_managers(world, alice):
    page = logged_in(world).get("/reports/tracking/").content.decode()
    assert 'id="tracking-report-data"' in page
    assert "chart.umd.min.js" in page and "https://cdn" not in page
    refused = logged_in(alice).get("/reports/tracking/")
    assert refused.status_code == 403
    assert "manage none" in refused.content.decode()
    assert logged_in(world).get("/reports/tracking/", {"csv": "nonsense"}).status_code == 404
    assert logged_in(world).get("/reports/tracking/", {"from": "not-a-date"}).status_code == 200
