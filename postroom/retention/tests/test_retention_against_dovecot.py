"""End to end against Dovecot: retention removes old unlinked mail from Postroom only.

The server keeps every message; Postroom's stored bytes and its data directory shrink
by exactly what the dry run said; the CRM timeline still shows its emails; and no later
sync fetches the removed mail again, not even a full resync of the folder (a new
UIDVALIDITY), because it is older than the mailbox's window. A run killed with SIGKILL
midway and started again removes nothing twice and leaves storage whole.
"""

import imaplib
import os
import signal
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.urls import reverse

from postroom import jobs
from postroom.crm.models import Contact, TimelineEntry
from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.actions import SyncSettings, do_update_mailbox_settings
from postroom.mailboxes.models import Folder
from postroom.retention import storage, sweep
from postroom.retention.models import RetentionRemoval, RetentionRun
from postroom.retention.planning import dry_run
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import ContactFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import start_postroom, wait_for
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db(transaction=True)

KNOWN = "Kim Known <kim@client.test>"
WORDS = "A long enough body that the bytes are worth counting. " * 60


def _append(dovecot, user, subject: str, days_ago: int, sender: str) -> None:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    raw = make_email(sender=sender, to=user.address, subject=subject, date=when, body=WORDS)
    dovecot.append(user.username, user.password, raw, date=when)


def _days(mailbox, days: int) -> None:
    settings = SyncSettings(mailbox.name, days, mailbox.poll_interval, mailbox.allow_self_signed)
    do_update_mailbox_settings(mailbox, settings, acting_user=None)
    mailbox.refresh_from_db()


def _server_count(dovecot, user) -> int:
    conn = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    try:
        conn.login(user.username, user.password)
        _, data = conn.select("INBOX", readonly=True)
        return int(data[0])
    finally:
        conn.logout()


def _data_dir_size(path) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(path) for f in names)


@pytest.fixture
def mail_of_two_months(dovecot, mail_user, dovecot_mailbox):
    """Ten emails 40-60 days old (four from a known contact, six from strangers) and two
    of this week, fetched with a 90-day window that the managers then shortened to 7
    days; strangers' mail makes nothing in the CRM (rule: none)."""
    contact = ContactFactory(name="Kim Known", email="kim@client.test")
    type(dovecot_mailbox).objects.filter(pk=dovecot_mailbox.pk).update(crm_rule="none")
    for n in range(4):
        _append(dovecot, mail_user, f"old from kim {n}", 60 - n, KNOWN)
    for n in range(6):
        _append(dovecot, mail_user, f"old from a stranger {n}", 40 + n, f"s{n}@stranger.test")
    for n in range(2):
        _append(dovecot, mail_user, f"this week {n}", n + 1, f"new{n}@stranger.test")
    _days(dovecot_mailbox, 90)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    _days(dovecot_mailbox, 7)
    dovecot_mailbox.refresh_from_db()
    assert Message.objects.count() == 12
    return contact


def test_retention_against_dovecot_shrinks_postroom_only_and_sync_does_not_bring_mail_back(
    settings, dovecot, mail_user, dovecot_mailbox, mail_of_two_months
):
    contact = mail_of_two_months
    plan = dry_run()
    (mailbox_plan,) = plan.mailboxes
    assert (mailbox_plan.copies, mailbox_plan.messages) == (6, 6)
    before = storage.report()
    disk_before = _data_dir_size(settings.DATA_DIR / "raw")

    run = sweep.request_run(RetentionRun.Trigger.MANUAL)  # queued as a job on commit
    jobs.drain_embedded_queue()

    run.refresh_from_db()
    assert run.state == RetentionRun.State.DONE
    assert _server_count(dovecot, mail_user) == 12, "the server keeps every message"
    after = storage.report()
    assert before.raw_bytes - after.raw_bytes == plan.raw_bytes == run.raw_bytes_freed > 0
    assert before.attachment_bytes - after.attachment_bytes == plan.attachment_bytes
    if settings.POSTROOM["RAW_STORE"] == "files":  # SQLite's default; PostgreSQL: rows
        assert disk_before - _data_dir_size(settings.DATA_DIR / "raw") == plan.raw_bytes
    assert not Message.objects.filter(subject__startswith="old from a stranger").exists()
    assert RetentionRemoval.objects.filter(rule="30 days (organisation default)").count() == 6

    # The CRM keeps its emails, and its timeline shows them.
    entries = TimelineEntry.objects.filter(object_id=contact.pk, activity__isnull=False)
    assert entries.count() == 4
    page = logged_in(UserFactory(is_superuser=True)).get(reverse("web:contact", args=[contact.pk]))
    assert all(f"old from kim {n}" in page.content.decode() for n in range(4))
    assert Contact.objects.filter(pk=contact.pk).exists()

    # A new sync fetches nothing; nor does a full resync of the folder (its window is
    # 7 days: the removed mail is older).
    assert sync_mailbox(dovecot_mailbox).fetched == 0
    Folder.objects.filter(mailbox=dovecot_mailbox, name="INBOX").update(uidvalidity=1)
    summary = sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    assert summary.fetched == 2, "only this week's mail is in the window"
    assert not Message.objects.filter(subject__startswith="old from a stranger").exists()
    held = MessageCopy.objects.filter(mailbox=dovecot_mailbox).values_list(
        "message__subject", flat=True
    )
    assert sorted(held) == [f"old from kim {n}" for n in range(4)] + ["this week 0", "this week 1"]
    assert storage.check() == []


def test_a_run_killed_with_sigkill_and_started_again_removes_nothing_twice(
    settings, dovecot, mail_user, dovecot_mailbox, mail_of_two_months, live_env, tmp_path
):
    plan = dry_run()
    env = {
        **live_env,
        "POSTROOM_RETENTION_BATCH": "1",
        "POSTROOM_RETENTION_PAUSE": "0.5",
        "POSTROOM_RETENTION_PACK_QUIET": "0",
    }
    log = tmp_path / "retention.log"
    first = start_postroom(["retention", "--run"], env, log)
    wait_for(lambda: RetentionRemoval.objects.count() >= 2, 60, "two batches committed")
    os.killpg(first.pid, signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    removed = RetentionRemoval.objects.count()
    assert 2 <= removed < plan.copies, "killed midway"
    (run,) = RetentionRun.objects.all()
    assert run.state == RetentionRun.State.RUNNING
    assert run.copies_removed == removed, "the counters moved with each batch"
    call_command("storage", "check")  # nothing half-done is left by the kill

    again = start_postroom(["retention", "--run"], env, log)
    assert again.wait(timeout=120) == 0, log.read_text()

    run.refresh_from_db()
    assert RetentionRun.objects.count() == 1, "the killed run went on; no new one"
    assert run.state == RetentionRun.State.DONE
    assert (run.copies_removed, run.messages_removed) == (plan.copies, plan.messages)
    assert run.bytes_freed == plan.bytes
    pks = list(RetentionRemoval.objects.values_list("message_pk", flat=True))
    assert len(pks) == len(set(pks)) == plan.copies
    assert _server_count(dovecot, mail_user) == 12
    call_command("storage", "check")
