"""A process keeps each mailbox's loaded rules while nothing routing reads changes, and
every change (made in this process or any other: the version is in the database)
reaches the next email."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from postroom.accounts.actions import do_deactivate_user
from postroom.accounts.roles import do_create_department, do_set_department_members
from postroom.mail.models import Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing import changes
from postroom.routing.actions import (
    do_add_rule,
    do_move_rule,
    do_save_calendar,
    do_set_rule_enabled,
)
from postroom.routing.models import DistributionRule, RoutingChange
from postroom.routing.rules import RuleSet, decide
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db
Kind = DistributionRule.Kind


def vip_email():
    return Message(pk=1, subject="VIP order", from_address="anna@customer.test", text_body="")


@pytest.fixture
def mailbox():
    return MailboxFactory(owner=UserFactory(username="olga"))


@pytest.fixture
def reader(mailbox):
    def reader(username: str):
        user = UserFactory(username=username)
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
        return user

    return reader


@pytest.fixture
def vip_rule(mailbox, reader):
    return do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=reader("sam"))


def test_loaded_rules_cost_one_count_while_nothing_changes(mailbox, vip_rule):
    RuleSet.load(mailbox)
    with CaptureQueriesContext(connection) as queries:
        rules = RuleSet.load(mailbox)
    assert len(queries) == 1 and "COUNT(*)" in queries[0]["sql"]
    assert rules.decide(vip_email(), preview=True).rule == vip_rule


def test_a_rule_added_after_loading_decides_the_next_email(mailbox, reader):
    assert decide(vip_email(), mailbox).rule is None
    vip = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=reader("sam"))
    assert decide(vip_email(), mailbox).rule == vip


def test_a_disabled_rule_stops_deciding_at_once(mailbox, vip_rule):
    assert decide(vip_email(), mailbox).rule == vip_rule
    do_set_rule_enabled(vip_rule, False)
    assert decide(vip_email(), mailbox).rule is None


def test_moving_a_rule_up_is_seen_although_positions_change_without_signals(
    mailbox, reader, vip_rule
):
    catch_all = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="order", target_user=reader("al"))
    assert decide(vip_email(), mailbox).rule == vip_rule
    do_move_rule(catch_all, 1)
    assert decide(vip_email(), mailbox).rule == catch_all


def test_deactivating_the_rules_person_makes_it_fall_through(mailbox, vip_rule):
    assert decide(vip_email(), mailbox).user == vip_rule.target_user
    do_deactivate_user(vip_rule.target_user)
    decision = decide(vip_email(), mailbox)
    assert decision.user == mailbox.owner
    assert "deactivated: falls through" in decision.trace[0]


def test_a_revoked_grant_takes_the_person_out_of_the_readers(mailbox, vip_rule):
    RuleSet.load(mailbox)
    MailboxGrant.objects.get(mailbox=mailbox, user=vip_rule.target_user).delete()
    decision = decide(vip_email(), mailbox)
    assert decision.user == mailbox.owner
    assert "may not read" in decision.trace[0]


def test_a_department_member_added_joins_the_round_robin(mailbox, reader):
    department = do_create_department("Sales")
    first = reader("amy")
    do_set_department_members(department, [first])
    MailboxGrant.objects.create(mailbox=mailbox, group=department.group)
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, department=department)
    assert decide(vip_email(), mailbox, preview=True).user == first
    second = UserFactory(username="bob")
    do_set_department_members(department, [first, second])
    assert {u.pk for u in RuleSet.load(mailbox).rules[0].queue} == {first.pk, second.pk}


def test_a_calendar_changed_after_loading_is_the_one_used(mailbox, reader):
    calendar = do_save_calendar(None, name="Office", time_zone="UTC", week="mon-fri 09:00-17:00")
    do_add_rule(
        mailbox,
        kind=Kind.HOURS,
        calendar=calendar,
        target_user=reader("day"),
        on_call=reader("night"),
    )
    RuleSet.load(mailbox)
    do_save_calendar(calendar, name="Office", time_zone="Asia/Tokyo", week="mon-fri 09:00-17:00")
    assert RuleSet.load(mailbox).rules[0].rule.calendar.time_zone == "Asia/Tokyo"


def test_a_login_or_a_new_password_is_not_a_routing_change(vip_rule):
    user = vip_rule.target_user
    before = changes.version()
    user.save(update_fields=["last_login"])
    user.set_password("a new one")
    user.save(update_fields=["password"])
    assert changes.version() == before
    user.first_name = "Samuel"
    user.save()
    assert changes.version() == before + 1


def test_the_version_counts_changes_that_commit_late(mailbox, vip_rule):
    """A transaction that took a lower id but became visible later still moves the
    version: it counts rows, not the largest id."""
    before = changes.version()
    late = RoutingChange.objects.create()
    RoutingChange.objects.create()
    RoutingChange.objects.filter(pk=late.pk).delete()  # as if not yet committed
    assert changes.version() == before + 1
    RoutingChange.objects.create(pk=late.pk)  # it commits now
    assert changes.version() == before + 2
