"""A backfill of many batches is staged (bytes in a pack, one FetchedBatch row each) and
recorded by the `record` job, against a real Dovecot."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom import jobs, pipeline
from postroom.crm.models import Lead
from postroom.mail import rawstore
from postroom.mail.models import FetchedBatch, Message, MessageCopy
from postroom.sync.service import sync_mailbox
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staged(dovecot, mail_user, dovecot_mailbox, settings, tmp_path):
    """Five emails in INBOX, fetched by a first sync in batches of two: three batches."""
    settings.DATA_DIR = tmp_path
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files", "SYNC_BATCH": 2}
    for n in range(5):
        dovecot.deliver(
            make_email(subject=f"Old {n}", sender=f"c{n}@client.test"), to=mail_user.address
        )
    summary = sync_mailbox(dovecot_mailbox)
    assert (summary.fetched, summary.staged, summary.new) == (5, 5, 0)
    return dovecot_mailbox


def test_a_backfill_of_many_batches_is_durable_before_it_is_recorded(staged):
    assert FetchedBatch.objects.count() == 3
    assert not MessageCopy.objects.exists()
    inbox = staged.folders.get(name="INBOX")
    assert (inbox.backfill_below, inbox.backfill_done, inbox.backfill_total) == (None, 5, 5)
    # Each batch's bytes are in a pack already, where its row says.
    for batch in FetchedBatch.objects.all():
        places = [(offset, size) for _, offset, size, *_ in batch.entries]
        assert all(b"Subject: Old" in raw for raw in rawstore.read_places(batch.pack, places))


def test_the_bulk_writer_gives_its_buffer_back_when_the_backfill_is_staged(staged):
    assert rawstore.pack_writer(direct=True)._buffer is None  # megabytes, idle otherwise


def test_recording_a_batch_twice_stores_each_message_once(staged):
    for batch_id in FetchedBatch.objects.values_list("pk", flat=True):
        pipeline.record.call(batch_id)
        pipeline.record.call(batch_id)  # a job run twice (a redelivery)
    assert not FetchedBatch.objects.exists()
    assert MessageCopy.objects.count() == MessageCopy.objects.values("uid").distinct().count() == 5
    assert Message.objects.count() == 5
    jobs.drain_embedded_queue()  # then parsed and captured, as new mail is
    assert Message.objects.filter(status=Message.Status.PARSED).count() == 5
    assert Lead.objects.count() == 5
    raws = rawstore.get_many(Message.objects.values_list("raw_sha256", flat=True))
    assert len(raws) == 5  # read back from the pack and checked against their SHA-256


def test_the_record_jobs_run_with_the_others(staged):
    jobs.drain_embedded_queue()
    assert not FetchedBatch.objects.exists()
    assert sorted(MessageCopy.objects.values_list("uid", flat=True)) == [1, 2, 3, 4, 5]
    assert Lead.objects.count() == 5


def test_flags_and_the_server_time_survive_the_stage(staged, dovecot, mail_user):
    jobs.drain_embedded_queue()
    copy = MessageCopy.objects.get(uid=1)
    assert copy.flags == ["\\Recent"] and not copy.is_seen  # as the server said
    assert abs(copy.internal_date - timezone.now()) < timedelta(minutes=5)


def test_a_batch_of_a_renumbered_folder_is_dropped_not_doubled(staged):
    inbox = staged.folders.get(name="INBOX")
    inbox.uidvalidity += 1  # as a new UIDVALIDITY seen by the next sync sets it
    inbox.save(update_fields=["uidvalidity"])
    jobs.drain_embedded_queue()
    assert not FetchedBatch.objects.exists()
    assert not MessageCopy.objects.exists()  # the re-fetch under the new numbering stores them


def test_a_batch_whose_pack_is_lost_is_quarantined_with_the_reason(staged, tmp_path):
    batch = FetchedBatch.objects.order_by("pk").first()
    (tmp_path / "raw" / batch.pack).unlink()
    jobs.drain_embedded_queue()
    assert not FetchedBatch.objects.exists()
    # Every email of the batches is there: the lost ones as quarantined markers.
    assert MessageCopy.objects.count() == 5
    lost = Message.objects.filter(status=Message.Status.QUARANTINED)
    assert lost.count() == 5  # the three batches shared the one pack
    markers = rawstore.get_many(lost.values_list("raw_sha256", flat=True)).values()
    assert all(b"cannot be opened: No such file" in raw for raw in markers)


def test_a_batch_whose_record_job_was_lost_is_recorded_by_the_housekeeping(staged):
    DBTaskResult.objects.all().delete()  # the job runner died with the jobs
    assert pipeline.recover_fetched.call() == 0  # not overdue yet: its job may be running
    FetchedBatch.objects.update(created_at=timezone.now() - pipeline.RECORD_OVERDUE * 2)
    assert pipeline.recover_fetched.call() == 3
    assert not FetchedBatch.objects.exists()
    assert MessageCopy.objects.count() == 5
    jobs.drain_embedded_queue()
    assert Lead.objects.count() == 5


def test_new_mail_and_a_window_of_one_batch_are_recorded_at_once(staged, dovecot, mail_user):
    dovecot.deliver(make_email(subject="New"), to=mail_user.address)
    summary = sync_mailbox(staged)
    assert (summary.new, summary.staged) == (1, 0)
    assert MessageCopy.objects.filter(uid=6).exists()


def test_a_message_over_the_size_limit_is_staged_with_its_headers(
    dovecot, mail_user, dovecot_mailbox, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    settings.POSTROOM = {
        **settings.POSTROOM,
        "RAW_STORE": "files",
        "SYNC_BATCH": 1,
        "MAX_MESSAGE_SIZE": 20_000,
    }
    dovecot.deliver(make_email(subject="Huge", body="x" * 50_000), to=mail_user.address)
    dovecot.deliver(make_email(subject="Small"), to=mail_user.address)
    assert sync_mailbox(dovecot_mailbox).staged == 2
    jobs.drain_embedded_queue()
    huge = Message.objects.get(subject="Huge")
    assert huge.truncated_size > 50_000 and huge.raw_size < 20_000
    assert Message.objects.get(subject="Small").truncated_size is None
