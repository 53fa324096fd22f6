"""The Limits page, and each limit said where a person meets it: the connect forms, the
initial-days field, the compose form and the Outbox; and the API meeting the same
actions."""

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.api.tests.conftest import token_client
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.limits import Limits, current, do_set_limits
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound.models import MonthlyUsage, OutboxMessage
from postroom.outbound.quota import month_start
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db

WHO = "your administrator can change it on the Limits page"


@pytest.fixture
def ada(client):
    user = UserFactory(username="ada", is_superuser=True)
    client.force_login(user)
    return user


def test_an_administrator_sets_the_limits_and_sees_what_is_used(client, ada, settings):
    settings.POSTROOM = {**settings.POSTROOM, "MONTHLY_QUOTA": 500}
    MailboxFactory(address="sales@acme.test")
    MonthlyUsage.objects.create(month=month_start(timezone.now()).date(), sent=42)
    page = client.get(reverse("web:limits"))
    body = page.content.decode()
    assert page.status_code == 200
    assert 'value="500"' in body, "the environment's quota is the first value"
    assert "42 sent" in body
    saved = client.post(
        reverse("web:limits"),
        {"personal_per_user": "2", "shared_mailboxes": "", "initial_days_max": "90",
         "monthly_outgoing": "1000"},
    )  # fmt: skip
    assert saved.status_code == 302
    row = current()
    assert (row.personal_per_user, row.shared_mailboxes, row.initial_days_max) == (2, None, 90)
    assert (row.monthly_outgoing, row.updated_by) == (1000, ada)
    bad = client.post(reverse("web:limits"), {"initial_days_max": "0"})
    assert bad.status_code == 200 and current().initial_days_max == 90


def test_only_an_administrator_opens_the_limits_page(client):
    client.force_login(UserFactory(username="bob"))
    assert client.get(reverse("web:limits")).status_code == 403
    assert client.post(reverse("web:limits"), {"shared_mailboxes": "0"}).status_code == 403
    assert current().shared_mailboxes is None


def test_the_connect_forms_say_a_reached_limit_before_anything_is_typed(client, ada):
    do_set_limits(Limits(personal_per_user=0, shared_mailboxes=1), acting_user=ada)
    MailboxFactory(address="sales@acme.test")
    shared = client.get(reverse("web:connect_shared_mailbox")).content.decode()
    assert "The organisation has 1 shared mailbox, the most allowed (1); " + WHO in shared
    assert "disabled>Connect</button>" in shared
    mine = client.get(reverse("web:connect_mailbox")).content.decode()
    assert "You have 0 personal mailboxes connected, the most allowed per person (0)" in mine


def test_the_days_field_says_the_maximum_and_a_wider_window_is_refused(client, ada):
    mailbox = MailboxFactory(address="sales@acme.test", initial_days=30)
    do_set_limits(Limits(initial_days_max=45), acting_user=ada)
    url = reverse("web:mailbox_settings", args=[mailbox.pk])
    page = client.get(url).content.decode()
    assert "At most 45 days: the limit your administrator set." in page
    form = {"name": "Sales", "initial_days": "60", "crm_rule": "lead", "track_emails": "on"}
    refused = client.post(url, form).content.decode()
    assert "at most 45 days back (you asked for 60); " + WHO in refused
    mailbox.refresh_from_db()
    assert mailbox.initial_days == 30
    connect = client.get(reverse("web:connect_shared_mailbox")).content.decode()
    assert "At most 45 days" in connect


@pytest.fixture
def sending(ada):
    mailbox = MailboxFactory(
        address="sales@acme.test", smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none"
    )
    do_grant_mailbox(mailbox, ada, MailboxGrant.Level.MANAGE)
    return mailbox


def test_compose_and_the_outbox_say_the_quota_is_used_up_and_send_is_refused(client, ada, sending):
    do_set_limits(Limits(monthly_outgoing=0), acting_user=ada)
    compose = client.get(reverse("web:compose", args=[sending.pk])).content.decode()
    assert "The organisation&#x27;s monthly quota of 0 emails is used up" in compose
    assert "Your administrator can change it on the Limits page." in compose
    outbox = client.get(reverse("web:outbox", args=[sending.pk])).content.decode()
    assert "data-quota-reached" in outbox
    sent = client.post(
        reverse("web:compose", args=[sending.pk]),
        {"to": "anna@customer.test", "subject": "Offer", "body_html": "<p>Hello</p>"},
    )
    assert sent.status_code == 200
    assert "monthly quota of 0 emails is used up" in sent.content.decode()
    assert not OutboxMessage.objects.exists()


def test_the_api_meets_the_same_limits(sending, ada):
    api = token_client(ada)
    do_set_limits(Limits(monthly_outgoing=0, initial_days_max=10), acting_user=ada)
    sent = api.post(f"/api/v1/mailboxes/{sending.pk}/send", {"to": ["anna@customer.test"]})
    assert sent.status_code == 422
    assert "monthly quota of 0 emails is used up" in sent.json()["message"]
    wider = api.patch(f"/api/v1/mailboxes/{sending.pk}/settings", {"initial_days": 60})
    assert wider.status_code in (400, 422), wider.content
    assert "at most 10 days back" in wider.json()["message"]
    assert Mailbox.objects.get(pk=sending.pk).initial_days == 30
