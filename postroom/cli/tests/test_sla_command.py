"""postroom sla set|show|remove|sweep: reply deadlines from the shell."""

import pytest
from django.core.management import CommandError, call_command

from postroom.routing.models import BusinessHours, SlaPolicy
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("sla", *args, stdout=out)
    return out.getvalue()


def test_it_sets_and_shows_a_mailboxs_policy():
    MailboxFactory(address="sales@acme.test")
    BusinessHours.objects.create(name="Office", intervals=[[0, 540, 1080]])
    UserFactory(username="head")
    out = run("set", "sales@acme.test", "--first", "120", "--next", "480",
              "--calendar", "Office", "--supervisor", "head")  # fmt: skip
    assert "first reply within 2 hours, next within 8 hours, in Office hours" in out
    assert SlaPolicy.objects.get().supervisor.username == "head"
    assert "head is told" in run("show", "sales@acme.test")


def test_it_refuses_zero_minutes_and_a_calendar_without_hours():
    MailboxFactory(address="sales@acme.test")
    BusinessHours.objects.create(name="Never", intervals=[])
    with pytest.raises(CommandError, match="at least 1 minute"):
        run("set", "sales@acme.test", "--first", "0", "--next", "60")
    with pytest.raises(CommandError, match="has no working hours"):
        run("set", "sales@acme.test", "--first", "60", "--next", "60", "--calendar", "Never")
    assert not SlaPolicy.objects.exists()


def test_it_removes_a_policy_and_sweeps():
    MailboxFactory(address="sales@acme.test")
    run("set", "sales@acme.test", "--first", "60", "--next", "60")
    assert "no reply deadlines" in run("remove", "sales@acme.test")
    assert "'breached': 0" in run("sweep")
