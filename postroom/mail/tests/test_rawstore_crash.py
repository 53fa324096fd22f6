"""kill -9 of a sync storing raw messages in pack files: every message once, every raw
message readable byte for byte (its SHA-256 is checked on read)."""

import pytest

from postroom import jobs
from postroom.mail import rawstore
from postroom.mail.models import FetchedBatch, Message, MessageCopy, RawMessage
from postroom.testing.processes import fill_inbox, sync_with_random_kills

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 600
KILLS = 8


def test_kill_9_while_writing_packs_loses_and_doubles_nothing(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    fill_inbox(dovecot, mail_user.address, MESSAGES)
    env = {**live_env, "POSTROOM_SYNC_BATCH": "20", "POSTROOM_RAW_STORE": "files"}
    copies = MessageCopy.objects.filter(mailbox=dovecot_mailbox)
    inbox = dovecot_mailbox.folders.filter(name="INBOX")

    def progress() -> int:  # moves with each commit: the backfill's cursor
        return inbox.values_list("backfill_done", flat=True).first() or 0

    seed, kills = sync_with_random_kills(
        mail_user.address, env, tmp_path, progress, kills=KILLS, max_pause=0.02
    )
    jobs.drain_embedded_queue()  # a backfill of many batches is recorded by jobs

    assert not FetchedBatch.objects.exists(), seed
    assert copies.count() == copies.values("uid").distinct().count() == MESSAGES, seed
    assert Message.objects.count() == RawMessage.objects.count() == MESSAGES, seed
    assert not RawMessage.objects.filter(pack__isnull=True).exists(), seed
    errors: dict[str, str] = {}
    shas = list(Message.objects.values_list("raw_sha256", flat=True))
    raws = rawstore.get_many(shas, errors=errors)
    assert (len(raws), errors) == (MESSAGES, {}), seed
    assert all(b"Lorem ipsum" in raw for raw in raws.values())
    # Without kills mid-write this would prove nothing about them (how many land depends
    # on how fast this machine syncs between a commit and the kill).
    assert kills >= 2, f"only {kills} kill(s) landed mid-sync (seed {seed})"
