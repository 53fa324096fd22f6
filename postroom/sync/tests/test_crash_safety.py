"""Killing the sync with SIGKILL at random points never loses or doubles a message."""

import pytest

from postroom import jobs
from postroom.mail.models import FetchedBatch, Message, MessageCopy
from postroom.testing.processes import fill_inbox, sync_with_random_kills

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 3000
KILLS = 20


def test_kill_9_at_random_points_of_an_initial_sync_keeps_every_message_once(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    fill_inbox(dovecot, mail_user.address, MESSAGES)
    env = {**live_env, "POSTROOM_SYNC_BATCH": "20"}  # many commits: many places to die
    copies = MessageCopy.objects.filter(mailbox=dovecot_mailbox)
    inbox = dovecot_mailbox.folders.filter(name="INBOX")

    def progress() -> int:  # moves with each commit: the backfill's cursor
        return inbox.values_list("backfill_done", flat=True).first() or 0

    # Each run lives for a random pause after its first commit; the pipelined sync stores
    # thousands of messages a second, so the pauses stay short enough that KILLS runs
    # do not finish the folder before the kills are done.
    seed, kills = sync_with_random_kills(
        mail_user.address, env, tmp_path, progress, kills=KILLS, max_pause=0.02
    )
    jobs.drain_embedded_queue()  # a backfill of many batches is recorded by jobs

    assert not FetchedBatch.objects.exists(), f"seed {seed}"
    assert copies.count() == MESSAGES, f"seed {seed}"
    assert copies.values("uid").distinct().count() == MESSAGES, f"seed {seed}"
    assert Message.objects.count() == MESSAGES, f"seed {seed}"
    assert dovecot_mailbox.folders.get(name="INBOX").last_uid == MESSAGES
    assert kills >= KILLS // 2, f"only {kills} kills landed mid-sync (seed {seed})"
