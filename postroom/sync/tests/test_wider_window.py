"""More days back for a mailbox fetched already: the mail of the added days comes in,
what is stored is not fetched again, and a running worker does it at once."""

from datetime import UTC, datetime, timedelta

import pytest

from postroom.mail.models import MessageCopy
from postroom.mailboxes.actions import SyncSettings, do_update_mailbox_settings
from postroom.mailboxes.models import Folder
from postroom.sync import service
from postroom.sync.models import FolderLease
from postroom.sync.service import sync_folder
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def mail_of_90_days(dovecot, mail_user):
    """Two emails of 60 days ago, then three of today (UIDs 1-2 old, 3-5 new)."""
    old = datetime.now(UTC) - timedelta(days=60)
    for n in range(2):
        raw = make_email(subject=f"old {n}", date=old)
        dovecot.append(mail_user.username, mail_user.password, raw, date=old)
    for n in range(3):
        dovecot.append(mail_user.username, mail_user.password, make_email(subject=f"new {n}"))


def _sync(mailbox) -> service.SyncSummary:
    inbox = Folder.objects.select_related("mailbox").get(mailbox=mailbox, name="INBOX")
    with service._session(inbox.mailbox) as client:
        return sync_folder(client, inbox)


def _uids(mailbox) -> list[int]:
    return sorted(MessageCopy.objects.filter(mailbox=mailbox).values_list("uid", flat=True))


def _days(mailbox, days: int) -> None:
    settings = SyncSettings(mailbox.name, days, mailbox.poll_interval, mailbox.allow_self_signed)
    do_update_mailbox_settings(mailbox, settings, acting_user=None)


def test_more_days_fetch_only_the_mail_of_the_added_days(dovecot_mailbox, mail_of_90_days):
    assert _sync(dovecot_mailbox).new == 3
    assert _uids(dovecot_mailbox) == [3, 4, 5]

    _days(dovecot_mailbox, 90)
    summary = _sync(dovecot_mailbox)

    assert (summary.fetched, summary.new) == (2, 2), "the three stored are not fetched again"
    assert _uids(dovecot_mailbox) == [1, 2, 3, 4, 5]
    inbox = dovecot_mailbox.folders.get(name="INBOX")
    assert (inbox.backfill_below, inbox.backfill_done, inbox.backfill_total) == (None, 2, 2)
    assert inbox.window_days == 90
    assert _sync(dovecot_mailbox).fetched == 0, "and then nothing more"


def test_fewer_days_keep_what_was_fetched(dovecot_mailbox, mail_of_90_days):
    _days(dovecot_mailbox, 90)
    _sync(dovecot_mailbox)

    _days(dovecot_mailbox, 7)

    assert _sync(dovecot_mailbox).fetched == 0
    assert _uids(dovecot_mailbox) == [1, 2, 3, 4, 5]


def test_a_folder_fetched_before_windows_were_recorded_is_not_fetched_again(
    dovecot_mailbox, mail_of_90_days
):
    _sync(dovecot_mailbox)
    Folder.objects.filter(mailbox=dovecot_mailbox).update(window_days=None)
    type(dovecot_mailbox).objects.filter(pk=dovecot_mailbox.pk).update(initial_days=90)

    assert _sync(dovecot_mailbox).fetched == 0
    assert dovecot_mailbox.folders.get(name="INBOX").window_days == 90


def test_a_running_worker_fetches_the_added_days_at_once(
    dovecot_mailbox, mail_of_90_days, live_env, tmp_path
):
    # IDLE is up and the safety poll is 15 minutes away: only the sync request set by
    # the settings change can bring the old mail in within the wait below.
    env = {**live_env, "POSTROOM_POLL_INTERVAL": "900", "POSTROOM_LEASE_TTL": "3"}
    with running(["sync", "--forever"], env, tmp_path / "worker.log"):
        wait_for(FolderLease.objects.exists, 30, "the worker to take the folder")
        wait_for(lambda: _uids(dovecot_mailbox) == [3, 4, 5], 30, "the first sync")

        _days(dovecot_mailbox, 90)

        wait_for(lambda: _uids(dovecot_mailbox) == [1, 2, 3, 4, 5], 30, "the added days")
