"""The inbox page reads a fixed number of queries however many rows it shows: the rows
read only the columns they show (inbox_views.ROW_FIELDS), so a field the page starts to
show without being added there costs a query per row, and this test says so."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from postroom.mail import inbox
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def alice(sales):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    return user


def _conversations(sales, alice, count: int, start: int = 0) -> None:
    now = timezone.now()
    for n in range(start, start + count):
        ConversationFactory(
            mailbox=sales, subject=f"Q{n}", responsible=alice if n % 2 else None,
            waiting_since=now - timedelta(hours=n), reply_due_at=now + timedelta(hours=n),
            snoozed_until=None, has_attachment=n % 3 == 0, last_message_at=now,
        )  # fmt: skip


def _queries(client, view: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("web:inbox"), {"view": view})
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.mark.parametrize("view", ["open", "mine", "unassigned"])
def test_the_inbox_page_costs_the_same_queries_for_1_or_30_rows(sales, alice, view):
    client = logged_in(alice)
    _conversations(sales, alice, 2)
    few = _queries(client, view)
    _conversations(sales, alice, 30, start=2)
    assert _queries(client, view) == few


def test_the_navigation_counts_each_view_in_one_statement(sales, alice):
    _conversations(sales, alice, 5)
    Conversation.objects.filter(subject="Q0").update(status="pending")
    with CaptureQueriesContext(connection) as captured:
        counts = inbox.counts(alice, mailbox_ids=[sales.pk])
    assert len(captured.captured_queries) == 1
    assert counts == {"mine": 2, "unassigned": 2, "open": 4, "waiting": 1, "snoozed": 0,
                      "unanswered": 1}  # fmt: skip


def test_someone_who_reads_no_mailbox_counts_nothing(sales):
    nobody = UserFactory(username="mallory")
    assert set(inbox.counts(nobody).values()) == {0}
