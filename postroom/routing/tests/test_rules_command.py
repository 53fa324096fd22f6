"""`postroom rules`: the same services as the rules page, from the shell."""

import pytest
from django.core.management import CommandError, call_command

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.models import Absence, BusinessHours, DistributionRule, RuleTurn
from postroom.testing.factories import DepartmentFactory, MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(address="sales@acme.test", owner=UserFactory(username="olga"))


@pytest.fixture
def people(mailbox):
    found = {name: UserFactory(username=name) for name in ("sam", "alice", "bob", "night")}
    for user in found.values():
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
    return found


def rules(capsys, *args) -> str:
    call_command("rules", *args)
    return capsys.readouterr().out


def test_it_adds_lists_and_tests_a_vip_keyword_rule(mailbox, people, capsys):
    out = rules(capsys, "add", "sales@acme.test", "--kind", "keyword", "--keywords", "VIP",
                "--user", "sam")  # fmt: skip
    assert "rule 1 added" in out and "keyword VIP in subject or body → sam" in out
    out = rules(capsys, "test", "sales@acme.test", "--sender", "a@b.test", "--subject", "VIP")
    assert "→ sam: rule 1" in out and "“VIP” in the subject" in out
    out = rules(capsys, "test", "sales@acme.test", "--sender", "a@b.test", "--subject", "Hi")
    assert "no match" in out and "→ olga: no rule matched" in out


def test_it_moves_disables_enables_and_deletes_rules_by_number(mailbox, people, capsys):
    rules(capsys, "add", "sales@acme.test", "--kind", "sender", "--senders", "partner.test",
          "--user", "sam")  # fmt: skip
    rules(capsys, "add", "sales@acme.test", "--kind", "round-robin", "--queue", "alice", "bob")
    out = rules(capsys, "move", "sales@acme.test", "2", "1")
    assert out.index("round-robin") < out.index("sender")
    assert list(DistributionRule.objects.values_list("kind", "position")) == [
        ("round-robin", 1), ("sender", 2)
    ]  # fmt: skip
    assert "[disabled]" in rules(capsys, "disable", "sales@acme.test", "1")
    assert "[disabled]" not in rules(capsys, "enable", "sales@acme.test", "1")
    rules(capsys, "delete", "sales@acme.test", "1")
    assert list(DistributionRule.objects.values_list("kind", "position")) == [("sender", 1)]


def test_a_test_takes_no_round_robin_turn(mailbox, people, capsys):
    rules(capsys, "add", "sales@acme.test", "--kind", "round-robin", "--queue", "alice", "bob")
    for _ in range(2):
        assert "→ alice" in rules(capsys, "test", "sales@acme.test", "--sender", "x@y.test")
    assert RuleTurn.objects.get().turns == 0


def test_business_hours_with_a_calendar_and_an_on_call_person(mailbox, people, capsys):
    week = "mon-fri 09:00-12:00, 13:00-17:00"
    out = rules(capsys, "calendar", "Office", "--time-zone", "Europe/Berlin",
                "--week", week, "--holidays", "2026-12-25")  # fmt: skip
    assert "mon 09:00-12:00, 13:00-17:00" in out and "2026-12-25" in out
    out = rules(capsys, "add", "sales@acme.test", "--kind", "hours", "--calendar", "Office",
                "--user", "sam", "--on-call", "night")  # fmt: skip
    assert "within Office (Europe/Berlin) → sam; outside them → night (on call)" in out
    assert BusinessHours.objects.get().holidays == ["2026-12-25"]


def test_it_refuses_what_cannot_work_with_the_reason(mailbox, people, capsys):
    with pytest.raises(CommandError, match="not a valid regular expression"):
        rules(capsys, "add", "sales@acme.test", "--kind", "keyword", "--keywords", "(",
              "--regex", "--user", "sam")  # fmt: skip
    with pytest.raises(CommandError, match="ends before it starts"):
        rules(capsys, "calendar", "Office", "--week", "mon-fri 17:00-09:00")
    with pytest.raises(CommandError, match="has no rule 3"):
        rules(capsys, "disable", "sales@acme.test", "3")
    with pytest.raises(CommandError, match="no such mailbox"):
        rules(capsys, "list", "nobody@acme.test")
    assert not DistributionRule.objects.exists() and not BusinessHours.objects.exists()


def test_an_empty_department_is_listed_as_a_problem(mailbox, capsys):
    DepartmentFactory(name="Night")
    out = rules(capsys, "add", "sales@acme.test", "--kind", "round-robin", "--department", "Night")
    assert "! department Night has no active members" in out


def test_someone_marked_away(mailbox, people, capsys):
    out = rules(capsys, "away", "bob", "--from", "2026-12-24", "--until", "2026-12-31")
    assert "bob is away from 2026-12-24 until 2026-12-31" in out
    assert Absence.objects.get().user == people["bob"]
