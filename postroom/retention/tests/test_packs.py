"""With the file store, the freed raw bytes leave the disk: packs are rewritten without
them, every step safe to be killed at; and `storage check` finds what is left over."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from postroom.mail import rawstore
from postroom.mail.models import AttachmentBlob, Message, RawMessage
from postroom.retention import packs, storage, sweep
from postroom.retention.models import PackCompaction, RetentionRun
from postroom.retention.planning import dry_run
from postroom.testing.factories import MailboxFactory

from .helpers import arrive

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def files(settings):
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files"}


def _packs_size() -> int:
    return sum(storage.pack_files().values())


def _mail(mailbox):
    for n in range(4):
        arrive(mailbox, f"old {n}", days_ago=60)
    for n in range(2):
        arrive(mailbox, f"new {n}", days_ago=1)


def test_the_packs_shrink_by_the_raw_bytes_the_dry_run_announced():
    _mail(MailboxFactory())
    before = _packs_size()
    plan = dry_run()

    run = sweep.execute(sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False).pk)

    assert plan.raw_bytes > 0
    assert before - _packs_size() == plan.raw_bytes == run.disk_bytes_freed
    assert run.packs_compacted >= 1 and run.packs_to_compact == []
    assert sorted(Message.objects.values_list("subject", flat=True)) == ["new 0", "new 1"]
    assert len(rawstore.get_many(RawMessage.objects.values_list("sha256", flat=True))) == 2
    assert storage.check() == []


def test_a_pack_written_to_lately_is_left_for_a_later_run(settings):
    _mail(MailboxFactory())
    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PACK_QUIET": 3600}
    run = sweep.execute(sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False).pk)
    assert run.packs_compacted == 0 and run.packs_to_compact

    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PACK_QUIET": 0}
    later = sweep.execute(sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False).pk)
    assert later.packs_compacted == len(run.packs_to_compact)
    run.refresh_from_db()
    assert run.packs_to_compact == []
    assert storage.check() == []


@pytest.mark.parametrize("kill_at", ["after_new_pack", "after_rows_moved"])
def test_a_compaction_killed_midway_is_finished_by_the_next_run(monkeypatch, kill_at):
    _mail(MailboxFactory())
    before = _packs_size()
    plan = dry_run()
    run = sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False)

    class Killed(RuntimeError):
        pass

    if kill_at == "after_new_pack":
        real_write = packs._write

        def write_then_die(path, data):
            real_write(path, data)
            raise Killed

        monkeypatch.setattr(packs, "_write", write_then_die)
    else:

        def die(path):
            raise Killed

        monkeypatch.setattr(packs, "_unlink", die)
    with pytest.raises(Killed):
        sweep.execute(run.pk)
    assert PackCompaction.objects.exclude(new_pack="").exists()
    monkeypatch.undo()

    sweep.execute(run.pk)

    assert not PackCompaction.objects.exists()
    assert before - _packs_size() == plan.raw_bytes
    assert len(rawstore.get_many(RawMessage.objects.values_list("sha256", flat=True))) == 2
    assert storage.check() == []


def test_storage_check_lists_orphans_and_missing_bytes_and_fails(capsys):
    mailbox = MailboxFactory()
    arrive(mailbox, "kept", days_ago=1, attachment=b"%PDF contract")
    AttachmentBlob.objects.create(sha256="0" * 64, data=b"nobody's")
    RawMessage.objects.create(sha256="1" * 64, data=b"nobody's either")
    message = Message.objects.get()
    row = RawMessage.objects.get(sha256=message.raw_sha256)
    with open(rawstore.root() / row.pack, "r+b") as pack:
        pack.truncate(row.pack_offset + 3)

    with pytest.raises(CommandError, match="3 problem"):
        call_command("storage", "check")

    out = capsys.readouterr().out
    assert "orphan blob: attachment blob 0000" in out
    assert "orphan raw: raw message 1111" in out
    assert f"missing raw: raw message {message.raw_sha256}" in out


def test_storage_check_passes_on_whole_storage(capsys):
    arrive(MailboxFactory(), "kept", days_ago=1)
    call_command("storage", "check")
    assert "no orphan rows or files" in capsys.readouterr().out
