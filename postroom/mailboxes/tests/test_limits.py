"""The administrator's limits in the service layer: every way of saving a mailbox (the
action the web, the API and the commands call, a personal connection, a connection
check) and of sending an email meets them, and says which limit and who changes it."""

import pytest

from postroom.mailboxes import limits, personal
from postroom.mailboxes.actions import (
    ConnectionSettings,
    MailboxError,
    MailboxLimitReached,
    SyncSettings,
    do_add_mailbox,
    do_update_mailbox_settings,
)
from postroom.mailboxes.limits import LimitError, Limits, do_set_limits
from postroom.mailboxes.models import Mailbox, OrganisationLimits
from postroom.outbound import quota
from postroom.outbound.actions import Composition, QuotaReached, do_send_email
from postroom.outbound.models import MonthlyUsage, OutboxMessage
from postroom.sync.connecting import start_check
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


def _conn(address: str, imap: bool = True) -> ConnectionSettings:
    if not imap:
        return ConnectionSettings(address=address, name=address)
    return ConnectionSettings(
        address=address, name=address, imap_host="127.0.0.1", imap_port=143,
        imap_security="none", username=address, password="secret",
    )  # fmt: skip


def test_limits_are_unlimited_by_default_and_the_quota_starts_from_the_environment(settings):
    settings.POSTROOM = {**settings.POSTROOM, "MONTHLY_QUOTA": 250}
    row = limits.current()
    assert (row.personal_per_user, row.shared_mailboxes, row.initial_days_max) == (None,) * 3
    assert row.monthly_outgoing == 250
    settings.POSTROOM = {**settings.POSTROOM, "MONTHLY_QUOTA": 9}
    assert limits.current().monthly_outgoing == 250, "the environment is the first value only"
    assert OrganisationLimits.objects.count() == 1


def test_it_refuses_a_personal_mailbox_over_the_per_person_limit():
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    do_set_limits(Limits(personal_per_user=1), acting_user=ada)
    do_add_mailbox(_conn("ada@acme.test"), kind=Mailbox.Kind.PERSONAL, owner=ada)
    with pytest.raises(MailboxLimitReached) as refused:
        do_add_mailbox(_conn("ada2@acme.test"), kind=Mailbox.Kind.PERSONAL, owner=ada)
    assert str(refused.value) == (
        "You have 1 personal mailbox connected, the most allowed per person (1); "
        "your administrator can change it on the Limits page."
    )
    # Another person has their own allowance; a BCC tracker (no IMAP) is not counted.
    do_add_mailbox(_conn("bob@acme.test"), kind=Mailbox.Kind.PERSONAL, owner=bob)
    personal.tracker_for(ada)
    assert limits.personal_count(ada) == 1


def test_it_refuses_a_shared_mailbox_over_the_organisation_limit_ingress_only_too():
    do_set_limits(Limits(shared_mailboxes=2), acting_user=None)
    MailboxFactory(address="sales@acme.test")
    do_add_mailbox(_conn("info@acme.test", imap=False))
    with pytest.raises(
        MailboxLimitReached, match=r"has 2 shared mailboxes, the most allowed \(2\)"
    ):
        do_add_mailbox(_conn("hr@acme.test"))
    assert not Mailbox.objects.filter(address="hr@acme.test").exists()
    do_set_limits(Limits(), acting_user=None)  # unlimited again
    do_add_mailbox(_conn("hr@acme.test"))


def test_a_connection_check_is_refused_before_any_login_is_tried():
    ada = UserFactory(username="ada")
    do_set_limits(Limits(shared_mailboxes=0, initial_days_max=14), acting_user=None)
    with pytest.raises(MailboxLimitReached, match="shared mailbox"):
        start_check(_conn("hr@acme.test"), kind="shared", requested_by=ada,
                    options={"crm_rule": "lead", "initial_days": 7})  # fmt: skip
    with pytest.raises(MailboxLimitReached, match="at most 14 days back"):
        start_check(_conn("ada@acme.test"), kind="personal", requested_by=ada,
                    options={"initial_days": 30, "unknown_people": "ignore"})  # fmt: skip


def test_the_initial_fetch_window_is_held_to_the_maximum_when_saved_or_widened():
    ada = UserFactory(username="ada")
    do_set_limits(Limits(initial_days_max=14), acting_user=ada)
    with pytest.raises(MailboxLimitReached) as refused:
        do_add_mailbox(_conn("hr@acme.test"), initial_days=30)
    assert "at most 14 days back (you asked for 30)" in str(refused.value)
    assert "your administrator can change it" in str(refused.value)
    mailbox = do_add_mailbox(_conn("hr@acme.test"), initial_days=14)
    choices = SyncSettings(name="HR", initial_days=15, poll_interval=None, allow_self_signed=False)
    with pytest.raises(MailboxLimitReached, match="at most 14 days"):
        do_update_mailbox_settings(mailbox, choices, acting_user=ada)
    # A personal mailbox's owner meets the same maximum.
    too_wide = personal.PersonalSettings(initial_days=20)
    with pytest.raises(MailboxLimitReached):
        personal.do_add_personal_mailbox(ada, _conn("ada@acme.test"), too_wide)
    saved = personal.do_add_personal_mailbox(
        ada, _conn("ada@acme.test"), personal.PersonalSettings(initial_days=10)
    )
    assert saved.initial_days == 10


def test_a_window_saved_before_the_limit_was_lowered_does_not_block_other_settings():
    ada = UserFactory(username="ada")
    mailbox = do_add_mailbox(_conn("hr@acme.test"), initial_days=60)
    do_set_limits(Limits(initial_days_max=14), acting_user=ada)
    choices = SyncSettings(name="Human resources", initial_days=60, allow_self_signed=False,
                           poll_interval=None)  # fmt: skip
    assert do_update_mailbox_settings(mailbox, choices, acting_user=ada).name == "Human resources"


def test_bad_limits_are_refused_and_nothing_changes():
    do_set_limits(Limits(shared_mailboxes=3), acting_user=None)
    for bad in (Limits(shared_mailboxes=-1), Limits(initial_days_max=0),
                Limits(initial_days_max=99_999), Limits(monthly_outgoing=10**12)):  # fmt: skip
        with pytest.raises(LimitError):
            do_set_limits(bad, acting_user=None)
    assert limits.current().shared_mailboxes == 3
    assert not issubclass(LimitError, MailboxError)


@pytest.fixture
def sender():
    user = UserFactory(username="ada", is_superuser=True)
    mailbox = MailboxFactory(
        address="sales@acme.test", smtp_host="127.0.0.1", smtp_port=2525, smtp_security="none"
    )
    return user, mailbox


def _send(user, mailbox, n: int) -> OutboxMessage:
    return do_send_email(
        mailbox, Composition(to=[f"c{n}@customer.test"], subject="Offer", body="Hello"),
        acting_user=user,
    )  # fmt: skip


def test_the_monthly_quota_refuses_a_new_email_once_sent_and_waiting_reach_it(sender):
    user, mailbox = sender
    do_set_limits(Limits(monthly_outgoing=3), acting_user=user)
    month = quota.month_start(quota.timezone.now()).date()
    MonthlyUsage.objects.create(month=month, sent=1)
    _send(user, mailbox, 1)
    _send(user, mailbox, 2)  # 1 sent + 2 waiting: the quota is used up
    assert quota.usage().used == 3 and quota.usage().reached
    with pytest.raises(QuotaReached) as refused:
        _send(user, mailbox, 3)
    text = str(refused.value)
    assert "monthly quota of 3 emails is used up (1 sent this month and 2 waiting to go)" in text
    assert "Your administrator can change it on the Limits page." in text
    assert OutboxMessage.objects.count() == 2
    do_set_limits(Limits(monthly_outgoing=None), acting_user=user)  # unlimited
    _send(user, mailbox, 3)
    assert quota.usage().left is None
