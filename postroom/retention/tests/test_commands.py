"""postroom retention and postroom storage report print what the pages show; the daily
sweep is queued once a day, however many runners ask."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from postroom.retention.jobs import retention_due
from postroom.retention.models import MailboxRetention, OrganisationRetention, RetentionRun
from postroom.testing.factories import MailboxFactory

from .helpers import arrive

pytestmark = pytest.mark.django_db


def test_dry_run_prints_counts_and_bytes_per_mailbox_and_removes_nothing(capsys):
    mailbox = MailboxFactory(address="sales@acme.test")
    old = arrive(mailbox, "old", days_ago=60)
    arrive(mailbox, "new", days_ago=1)

    call_command("retention", "--dry-run")

    out = capsys.readouterr().out
    assert "sales@acme.test" in out and "30 days (organisation default)" in out
    assert f"bytes freed: {old.raw_size} ({old.raw_size} raw, 0 attachments)" in out
    assert not RetentionRun.objects.exists()
    assert mailbox.copies.count() == 2


def test_run_removes_and_prints_what_it_freed(capsys):
    arrive(MailboxFactory(), "old", days_ago=60)
    call_command("retention", "--run")
    assert "1 copies and 1 emails removed" in capsys.readouterr().out


def test_rules_are_set_from_the_command_line_and_bad_input_is_refused():
    mailbox = MailboxFactory(address="hr@acme.test")
    call_command("retention", "--set-default", "keep")
    assert OrganisationRetention.objects.get().days is None
    call_command("retention", "--set", "hr@acme.test", "90")
    assert MailboxRetention.objects.get(mailbox=mailbox).days == 90
    call_command("retention", "--set", "hr@acme.test", "default")
    assert not MailboxRetention.objects.exists()
    with pytest.raises(CommandError, match="not a number of days"):
        call_command("retention", "--set-default", "soon")
    with pytest.raises(CommandError, match="between 1 and"):
        call_command("retention", "--set-default", "0")
    with pytest.raises(CommandError, match="no mailbox"):
        call_command("retention", "--set", "nobody@acme.test", "30")


def test_storage_report_prints_mailboxes_growth_and_what_retention_freed(capsys):
    mailbox = MailboxFactory(address="sales@acme.test")
    arrive(mailbox, "old", days_ago=60)
    new = arrive(mailbox, "new", days_ago=1)
    call_command("retention", "--run")
    capsys.readouterr()

    call_command("storage", "report")

    out = capsys.readouterr().out
    assert "emails: 1;" in out and f"({new.raw_size} bytes" in out
    assert "removed 1 copies and 1 emails" in out
    assert "growth per month" in out and "sales@acme.test" in out


def test_the_daily_sweep_is_queued_once_a_day():
    assert retention_due.call() is not None
    assert retention_due.call() is None
    assert RetentionRun.objects.filter(trigger=RetentionRun.Trigger.SCHEDULED).count() == 1
