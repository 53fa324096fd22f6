"""The manager's dashboard page: for a mailbox's managers and administrators, its
figures as charts' data and numbers, each exportable as CSV; refused to others."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.mail.models import ConversationEvent
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing import reports
from postroom.routing.models import SlaClock
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales():
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    now = timezone.now()
    alice = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_grant_mailbox(mailbox, alice, MailboxGrant.Level.REPLY)
    for n, hours in enumerate([1, 5, 30]):
        conversation = ConversationFactory(
            mailbox=mailbox, subject=f"Q{n}", responsible=alice,
            waiting_since=now - timedelta(hours=hours),
        )  # fmt: skip
        ConversationEvent.objects.create(
            conversation=conversation, kind="replied", actor=alice,
            created_at=now - timedelta(hours=hours) + timedelta(minutes=30 * (n + 1)),
            detail={"waited_seconds": 1800 * (n + 1), "forward": False},
        )  # fmt: skip
        SlaClock.objects.create(
            conversation=conversation, mailbox=mailbox, kind="first",
            started_at=now - timedelta(hours=hours), due_at=now - timedelta(minutes=10),
            escalate_at=now, ended_at=now - timedelta(minutes=20 - 10 * n),
            outcome="answered",
        )  # fmt: skip
    return mailbox


@pytest.fixture
def manager(sales):
    user = UserFactory(username="mike")
    do_grant_mailbox(sales, user, MailboxGrant.Level.MANAGE)
    return user


def test_it_shows_a_managers_mailbox_figures_as_chart_data(sales, manager):
    response = logged_in(manager).get(reverse("web:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="chart-incoming"' in html and "chartjs-4.6.2/chart.umd.min.js" in html
    data = response.context["charts"]
    report = reports.figures(response.context["scope"])
    assert data["first_reply"]["values"] == [60.0, 90.0]  # median 1 h, p90 1.5 h
    assert data["sla"]["values"] == [report["sla"]["hit"], report["sla"]["breached"]] == [2, 1]
    assert data["open_per_person"] == {"labels": ["Alice Smith"], "values": [3]}
    assert data["replies_per_person"] == {"labels": ["Alice Smith"], "values": [3]}
    assert [row["subject"] for row in response.context["oldest"]] == ["Q2", "Q1", "Q0"]
    assert json.loads(html.split('id="dashboard-data" type="application/json">')[1].split(
        "</script>")[0]) == data  # fmt: skip


def test_each_figure_is_exported_as_csv(sales, manager):
    client = logged_in(manager)
    for figure in ("incoming", "first_reply", "sla", "open_per_person", "oldest_waiting",
                   "replies"):  # fmt: skip
        response = client.get(reverse("web:dashboard"), {"csv": figure})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert len(rows) >= 2, figure
    sla = client.get(reverse("web:dashboard"), {"csv": "sla"}).content.decode()
    assert sla.splitlines()[1] == "2,1,0.6667"
    assert client.get(reverse("web:dashboard"), {"csv": "nonsense"}).status_code == 404


def test_a_user_without_the_manage_right_is_refused_with_the_reason(sales):
    alice = UserFactory(username="alice")  # reply right only
    response = logged_in(alice).get(reverse("web:dashboard"))
    assert response.status_code == 403
    assert "mailboxes you manage" in response.content.decode()
    assert "Dashboard</a>" not in response.content.decode()


def test_a_manager_cannot_see_a_mailbox_they_do_not_manage(sales, manager):
    other = MailboxFactory(name="HR", address="hr@acme.test")
    response = logged_in(manager).get(reverse("web:dashboard"), {"mailbox": other.pk})
    assert response.status_code == 404


def test_an_administrator_sees_every_shared_mailbox(sales):
    admin = UserFactory(username="root", is_superuser=True, is_staff=True)
    response = logged_in(admin).get(reverse("web:dashboard"), {"mailbox": sales.pk})
    assert response.status_code == 200
    assert response.context["charts"]["open_per_person"]["values"] == [3]
    assert "Dashboard</a>" in response.content.decode()
