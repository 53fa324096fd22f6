"""A mailbox's reply deadlines page: its managers set the mailbox's policy and a rule's,
a zero-minute deadline or a calendar without hours is refused in the form with the
reason, and a colleague without the manage right is refused."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.actions import do_add_rule
from postroom.routing.models import BusinessHours, SlaPolicy
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def mike(sales):
    user = UserFactory(username="mike")
    do_grant_mailbox(sales, user, MailboxGrant.Level.MANAGE)
    return user


def post(client, mailbox, **fields):
    data = {"target": "mailbox", "first_reply_minutes": 120, "next_reply_minutes": 480,
            "grace_minutes": 60, **fields}  # fmt: skip
    return client.post(reverse("web:mailbox_deadlines", args=[mailbox.pk]), data)


def test_a_manager_sets_the_mailboxs_and_a_rules_deadline(sales, mike):
    office = BusinessHours.objects.create(name="Office", intervals=[[0, 540, 1080]])
    vip = do_add_rule(sales, kind="keyword", keywords="VIP", target_user=mike)
    client = logged_in(mike)
    assert post(client, sales, calendar=office.pk).status_code == 302
    assert post(client, sales, target=vip.pk, first_reply_minutes=15).status_code == 302
    policies = {p.rule_id: p for p in SlaPolicy.objects.all()}
    assert policies[None].calendar == office and policies[None].first_reply_minutes == 120
    assert policies[vip.pk].first_reply_minutes == 15
    page = client.get(reverse("web:mailbox_deadlines", args=[sales.pk])).content.decode()
    assert "Office hours" in page and "Rule: " in page


def test_zero_minutes_and_a_calendar_without_hours_are_refused_with_the_reason(sales, mike):
    never = BusinessHours.objects.create(name="Never", intervals=[])
    client = logged_in(mike)
    response = post(client, sales, first_reply_minutes=0)
    assert response.status_code == 200
    assert "first reply deadline must be at least 1 minute" in response.content.decode()
    response = post(client, sales, calendar=never.pk)
    assert "has no working hours" in response.content.decode()
    assert not SlaPolicy.objects.exists()


def test_a_colleague_without_the_manage_right_is_refused(sales):
    alice = UserFactory(username="alice")
    do_grant_mailbox(sales, alice, MailboxGrant.Level.REPLY)
    assert post(logged_in(alice), sales).status_code == 403
    assert not SlaPolicy.objects.exists()


def test_a_policy_is_removed(sales, mike):
    client = logged_in(mike)
    post(client, sales)
    policy = SlaPolicy.objects.get()
    url = reverse("web:mailbox_deadline_remove", args=[sales.pk, policy.pk])
    assert client.post(url).status_code == 302
    assert not SlaPolicy.objects.exists()
