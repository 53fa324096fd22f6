"""Deciding who is responsible: each rule kind, their order, falling through, the default."""

import logging
from datetime import UTC, date, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from postroom.mail.models import Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.actions import do_add_absence, do_add_rule, do_save_calendar
from postroom.routing.models import DistributionRule, RuleTurn
from postroom.routing.rules import RuleError, RuleSet, check_rule, decide, rule_problems
from postroom.testing.factories import (
    ContactFactory,
    DepartmentFactory,
    MailboxFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db
Kind = DistributionRule.Kind
MONDAY_MORNING = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
SUNDAY = datetime(2026, 12, 6, 9, 30, tzinfo=UTC)


def email(subject="Price request", sender="anna@customer.test", body="Hello"):
    return Message(pk=1, subject=subject, from_address=sender, text_body=body)


@pytest.fixture
def owner():
    return UserFactory(username="olga")


@pytest.fixture
def mailbox(owner):
    return MailboxFactory(owner=owner)


@pytest.fixture
def colleague(mailbox):
    """A user who may read the mailbox (only they can be responsible for its mail)."""

    def colleague(**fields):
        user = UserFactory(**fields)
        do_grant_mailbox(mailbox, user, MailboxGrant.Level.READ)
        return user

    return colleague


@pytest.fixture
def senior(colleague):
    return colleague(username="sam", first_name="Sam", last_name="Senior")


def test_vip_keyword_goes_to_the_senior_manager(mailbox, senior):
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP\nurgent", target_user=senior)
    decision = decide(email(subject="VIP customer: new order"), mailbox)
    assert decision.user == senior
    assert "“VIP” in the subject" in decision.reason and "Sam Senior" in decision.reason
    assert decision.rule.kind == Kind.KEYWORD


def test_a_keyword_matches_whole_words_in_any_case(mailbox, senior):
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="vip", target_user=senior)
    assert decide(email(subject="A Vip request"), mailbox).user == senior
    assert decide(email(subject="The VIPER snake"), mailbox).user != senior


def test_a_body_keyword_is_found_in_the_body_and_a_subject_rule_ignores_it(mailbox, senior):
    rule = do_add_rule(
        mailbox, kind=Kind.KEYWORD, keywords="invoice", match_in="body", target_user=senior
    )
    assert decide(email(body="Please find the invoice"), mailbox).user == senior
    assert RuleSet.load(mailbox).needs_body
    rule.match_in = "subject"
    rule.save()
    assert decide(email(body="Please find the invoice"), mailbox).user != senior
    assert not RuleSet.load(mailbox).needs_body


def test_a_regular_expression_keyword(mailbox, senior):
    do_add_rule(
        mailbox, kind=Kind.KEYWORD, keywords=r"order #\d{4,}", is_regex=True, target_user=senior
    )
    assert decide(email(subject="About order #12345"), mailbox).user == senior
    assert decide(email(subject="About order #12"), mailbox).user != senior


def test_an_invalid_regular_expression_is_refused_with_the_reason(mailbox, senior):
    with pytest.raises(RuleError, match="not a valid regular expression"):
        do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="(unclosed", is_regex=True,
                    target_user=senior)  # fmt: skip
    assert not DistributionRule.objects.exists()


def test_partner_domain_goes_to_the_partner_account_manager(mailbox, colleague):
    account_manager = colleague()
    do_add_rule(mailbox, kind=Kind.SENDER, senders="partner.com", target_user=account_manager)
    assert decide(email(sender="bob@partner.com"), mailbox).user == account_manager
    assert decide(email(sender="eve@eu.partner.com"), mailbox).user == account_manager
    assert decide(email(sender="eve@notpartner.com"), mailbox).user != account_manager


def test_a_sender_address_matches_only_that_address(mailbox, colleague):
    person = colleague()
    do_add_rule(mailbox, kind=Kind.SENDER, senders="ceo@bigclient.test", target_user=person)
    decision = decide(email(sender="CEO@BigClient.test".lower()), mailbox)
    assert decision.user == person and "sender ceo@bigclient.test" in decision.reason
    assert decide(email(sender="cfo@bigclient.test"), mailbox).user != person


def test_the_first_matching_rule_wins_and_a_disabled_rule_is_skipped(mailbox, senior, colleague):
    other = colleague()
    first = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="order", target_user=senior)
    do_add_rule(mailbox, kind=Kind.SENDER, senders="customer.test", target_user=other)
    assert decide(email(subject="New order"), mailbox).user == senior
    first.enabled = False
    first.save()
    assert decide(email(subject="New order"), mailbox).user == other


def test_the_clients_existing_manager_gets_their_mail(mailbox, colleague):
    manager = colleague(username="maria")
    contact = ContactFactory(name="Anna", email="anna@customer.test", responsible=manager)
    do_add_rule(mailbox, kind=Kind.MANAGER)
    decision = decide(email(), mailbox)  # the contact is looked up by the sender
    assert decision.user == manager and "the client Anna's manager" in decision.reason
    assert decide(email(), mailbox, contact=contact).user == manager
    assert decide(email(sender="new@stranger.test"), mailbox).user != manager


def test_a_mailbox_routing_to_managers_behaves_as_if_the_manager_rule_came_first(
    mailbox, senior, colleague
):
    manager = colleague()
    ContactFactory(email="anna@customer.test", responsible=manager)
    do_add_rule(mailbox, kind=Kind.SENDER, senders="customer.test", target_user=senior)
    assert decide(email(), mailbox).user == senior
    mailbox.crm_route_to_manager = True
    mailbox.save()
    decision = decide(email(), mailbox)
    assert decision.user == manager and decision.rule is None
    assert "Route to the client's manager" in decision.reason


def test_business_hours_go_to_the_team_and_outside_them_to_the_on_call_person(
    mailbox, senior, colleague
):
    on_call = colleague(username="night")
    office = do_save_calendar(
        None, name="Office", time_zone="Europe/Berlin", week="mon-fri 09:00-17:00"
    )
    do_add_rule(mailbox, kind=Kind.HOURS, calendar=office, target_user=senior, on_call=on_call)
    during = decide(email(), mailbox, at=MONDAY_MORNING)
    assert during.user == senior and "within Office (Europe/Berlin)" in during.reason
    outside = decide(email(), mailbox, at=SUNDAY)
    assert outside.user == on_call and "outside Office" in outside.reason


def test_a_holiday_counts_as_outside_business_hours(mailbox, senior, colleague):
    on_call = colleague()
    office = do_save_calendar(
        None, name="Office", time_zone="UTC", week="mon-fri 09:00-17:00", holidays="2026-12-07"
    )
    do_add_rule(mailbox, kind=Kind.HOURS, calendar=office, target_user=senior, on_call=on_call)
    assert decide(email(), mailbox, at=MONDAY_MORNING).user == on_call


def test_round_robin_gives_each_member_of_the_queue_a_turn_in_order(mailbox, colleague):
    people = [colleague() for _ in range(3)]
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=people)
    rules = RuleSet.load(mailbox)
    got = [rules.decide(email()).user for _ in range(7)]
    assert got == [*people, *people, people[0]]
    assert RuleTurn.objects.get().turns == 7


def test_round_robin_over_a_department_skips_people_away(mailbox, colleague):
    alice, bob, carol = (colleague(username=n) for n in ("alice", "bob", "carol"))
    support = DepartmentFactory(name="Support", members=[alice, bob, carol])
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, department=support, skip_away=True)
    do_add_absence(bob, date(2026, 12, 1), date(2026, 12, 31), "holiday")
    rules = RuleSet.load(mailbox)
    got = [rules.decide(email(), at=MONDAY_MORNING).user for _ in range(4)]
    assert got == [alice, carol, alice, carol]


def test_round_robin_passes_over_people_at_the_load_limit(mailbox, colleague):
    from postroom.mail.models import Conversation

    busy, free = colleague(), colleague()
    for _ in range(2):
        Conversation.objects.create(
            mailbox=mailbox, responsible=busy, last_message_at=MONDAY_MORNING
        )
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=[busy, free], load_limit=2)
    rules = RuleSet.load(mailbox)
    assert [rules.decide(email()).user for _ in range(2)] == [free, free]
    # The batch counts what it gave: free is at the limit now too, so the rule falls
    # through to the mailbox's default.
    assert rules.decide(email()).user == mailbox.owner


def test_a_deactivated_person_falls_through_to_the_next_rule_and_says_so(
    mailbox, senior, caplog, colleague
):
    backup = colleague(username="backup")
    rule = do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=senior)
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=backup)
    senior.is_active = False
    senior.save()
    with caplog.at_level(logging.WARNING, logger="postroom.routing.rules"):
        decision = decide(email(subject="VIP"), mailbox)
    assert decision.user == backup
    assert "deactivated" in decision.trace[0] and "falls through" in decision.trace[0]
    assert "falls through" in caplog.text
    rule.refresh_from_db()
    assert rule_problems(rule) == ["Sam Senior is deactivated: the rule falls through"]


def test_an_empty_department_falls_through_to_the_mailboxs_default(mailbox, owner):
    empty = DepartmentFactory(name="Night shift")
    rule = do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, department=empty)
    decision = decide(email(), mailbox)
    assert decision.user == owner and decision.rule is None
    assert "Night shift has no active members" in decision.trace[0]
    assert "department Night shift has no active members" in rule_problems(rule)


def test_nothing_matching_goes_to_the_mailboxs_responsible_person(mailbox, owner, colleague):
    assert decide(email(), mailbox).user == owner
    agent = colleague()
    mailbox.crm_responsible = agent
    mailbox.save()
    decision = decide(email(), mailbox)
    assert decision.user == agent and decision.reason.startswith("no rule matched")


def test_no_responsible_person_anywhere_leaves_it_unassigned_without_a_crash():
    mailbox = MailboxFactory()
    decision = decide(email(), mailbox)
    assert decision.user is None and "left unassigned" in decision.reason


def test_a_preview_takes_no_turn(mailbox, colleague):
    people = [colleague() for _ in range(2)]
    do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=people)
    assert decide(email(), mailbox, preview=True).user == people[0]
    assert decide(email(), mailbox, preview=True).user == people[0]
    assert RuleTurn.objects.get().turns == 0


def test_twenty_rules_decide_without_a_query(mailbox, senior):
    for n in range(19):
        do_add_rule(mailbox, kind=Kind.KEYWORD, keywords=f"topic{n}\nword{n}", target_user=senior)
    do_add_rule(mailbox, kind=Kind.SENDER, senders="customer.test", target_user=senior)
    rules = RuleSet.load(mailbox)
    with CaptureQueriesContext(connection) as queries:
        for _ in range(10):
            assert rules.decide(email(body="nothing special " * 200)).user == senior
    assert len(queries) == 0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"kind": "keyword", "keywords": ""}, "at least one keyword"),
        ({"kind": "sender", "senders": "not a domain"}, "not an address or a domain"),
        ({"kind": "hours"}, "needs a calendar"),
        ({"kind": "round-robin"}, "needs a queue"),
        ({"kind": "keyword", "keywords": "x"}, "say who gets the mail"),
    ],
)
def test_a_rule_that_cannot_work_is_refused_with_the_reason(mailbox, fields, reason):
    with pytest.raises(RuleError, match=reason):
        check_rule(DistributionRule(mailbox=mailbox, **fields))


def test_a_person_who_may_not_read_the_mailbox_is_passed_over(mailbox, senior, colleague):
    outsider = UserFactory(username="out")
    do_add_rule(mailbox, kind=Kind.KEYWORD, keywords="VIP", target_user=outsider)
    rule = do_add_rule(mailbox, kind=Kind.ROUND_ROBIN, queue_users=[outsider, senior])
    decision = decide(email(subject="VIP"), mailbox)
    assert decision.user == senior
    assert f"may not read {mailbox.address}" in decision.trace[0]
    assert rule_problems(rule) == [f"passed over, as they may not read {mailbox.address}: out"]
