"""The raw message store: pack files (POSTROOM_RAW_STORE=files) and the database ("db")."""

import errno
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.db import transaction

from postroom.mail import rawstore
from postroom.mail.ingest import FetchedMessage, ingest_messages, parse_stored, store_copies
from postroom.mail.models import Message, MessageCopy, RawMessage
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def files(settings, tmp_path) -> Path:
    """The file store, in a data directory of this test's own; its raw/ directory."""
    settings.DATA_DIR = tmp_path
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files"}
    return tmp_path / "raw"


def _packs(raw_dir: Path) -> list[Path]:
    return sorted(raw_dir.glob("packs/*/*.pack"))


def _email(subject: str) -> bytes:
    """The same bytes each time for one subject."""
    return make_email(
        subject=subject,
        body=f"{subject} zebra",
        message_id=f"<{subject.replace(' ', '.')}@customer.test>",
        date=datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    )


def _batch(*subjects: str, first_uid: int = 1) -> list[FetchedMessage]:
    numbered = enumerate(subjects, start=first_uid)
    return [FetchedMessage(uid, _email(subject)) for uid, subject in numbered]


def test_a_batch_goes_to_one_pack_file_and_reads_back_byte_for_byte(files):
    folder = MailboxFactory().folders.get(name="INBOX")
    batch = _batch("Order 1", "Order 2", "Order 3")

    ids = store_copies(folder, 7, batch)

    assert len(ids) == 3
    (pack,) = _packs(files)
    assert pack.stat().st_size == sum(len(f.raw) for f in batch)
    for fetched in batch:
        sha = rawstore.sha256_of(fetched.raw)
        row = RawMessage.objects.get(sha256=sha)
        assert (row.pack, row.size, bytes(row.data)) == (
            str(pack.relative_to(files)),
            len(fetched.raw),
            b"",
        )
        assert rawstore.get(sha) == fetched.raw
    shas = [rawstore.sha256_of(f.raw) for f in batch]
    assert rawstore.get_many(shas) == {sha: f.raw for sha, f in zip(shas, batch, strict=True)}


def test_the_same_email_seen_again_is_not_appended_again(files):
    mailbox, other = MailboxFactory(), MailboxFactory()
    batch = _batch("Order 1", "Order 2")
    store_copies(mailbox.folders.get(name="INBOX"), 7, batch)
    size = sum(p.stat().st_size for p in _packs(files))

    store_copies(other.folders.get(name="INBOX"), 9, batch)  # a second mailbox saw it
    store_copies(mailbox.folders.get(name="INBOX"), 7, batch)  # a re-fetch

    assert sum(p.stat().st_size for p in _packs(files)) == size
    assert RawMessage.objects.count() == Message.objects.count() == 2
    assert MessageCopy.objects.count() == 4


def test_a_crash_between_the_pack_write_and_the_commit_doubles_nothing(files):
    folder = MailboxFactory().folders.get(name="INBOX")
    batch = _batch("Order 1", "Order 2")

    class Crash(Exception):
        pass

    with pytest.raises(Crash), transaction.atomic():
        store_copies(folder, 7, batch)
        raise Crash  # the bytes are in the pack, the rows never commit

    assert sum(p.stat().st_size for p in _packs(files)) == sum(len(f.raw) for f in batch)
    assert not RawMessage.objects.exists() and not Message.objects.exists()

    ids = store_copies(folder, 7, batch)  # the re-fetch after the restart

    assert len(ids) == 2
    assert RawMessage.objects.count() == Message.objects.count() == MessageCopy.objects.count() == 2
    for fetched in batch:
        assert rawstore.get(rawstore.sha256_of(fetched.raw)) == fetched.raw


def test_a_missing_pack_quarantines_its_messages_with_the_reason(files):
    mailbox = MailboxFactory()
    ids = store_copies(mailbox.folders.get(name="INBOX"), 7, _batch("Order 1", "Order 2"))
    (pack,) = _packs(files)
    pack.unlink()

    messages = ingest_messages(ids, mailbox)

    assert [m.status for m in messages] == [Message.Status.QUARANTINED] * 2
    for message in Message.objects.all():
        assert message.status == Message.Status.QUARANTINED
        assert "cannot be opened" in message.error and pack.name in message.error
    with pytest.raises(rawstore.Unreadable, match=pack.name):
        rawstore.get(messages[0].raw_sha256)
    # The next batch goes to a new pack, not into the deleted file.
    store_copies(mailbox.folders.get(name="INBOX"), 7, _batch("Order 3", first_uid=3))
    assert rawstore.get(_sha("Order 3")) == _email("Order 3")


def _sha(subject: str) -> str:
    return rawstore.sha256_of(_email(subject))


def test_a_damaged_pack_quarantines_the_message_instead_of_serving_other_bytes(files):
    mailbox = MailboxFactory()
    (message_id,) = store_copies(mailbox.folders.get(name="INBOX"), 7, _batch("Order 1"))
    (pack,) = _packs(files)
    data = bytearray(pack.read_bytes())
    data[len(data) // 2] ^= 0xFF
    pack.write_bytes(bytes(data))

    message = parse_stored(Message.objects.get(pk=message_id))

    assert message.status == Message.Status.QUARANTINED
    assert "is damaged" in message.error and pack.name in message.error
    assert Message.objects.get(pk=message_id).status == Message.Status.QUARANTINED


def test_a_truncated_pack_is_reported_as_such(files):
    folder = MailboxFactory().folders.get(name="INBOX")
    store_copies(folder, 7, _batch("Order 1", "Order 2"))
    (pack,) = _packs(files)
    with pack.open("r+b") as f:
        f.truncate(pack.stat().st_size - 10)

    errors: dict[str, str] = {}
    found = rawstore.get_many([_sha("Order 1"), _sha("Order 2")], errors=errors)

    assert list(found) == [_sha("Order 1")]
    assert "truncated" in errors[_sha("Order 2")]


def test_bytes_kept_in_the_database_still_read_with_the_file_store(files, settings):
    old = make_email(subject="Stored before the file store")
    RawMessage.objects.create(sha256=rawstore.sha256_of(old), data=old)  # an upgraded install
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "db"}
    in_db = make_email(subject="Stored with RAW_STORE=db")
    rawstore.put_many({rawstore.sha256_of(in_db): in_db})
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files"}
    new = make_email(subject="Stored in a pack")
    rawstore.put_many({rawstore.sha256_of(new): new})

    shas = [rawstore.sha256_of(raw) for raw in (old, in_db, new)]
    assert rawstore.get_many(shas) == dict(zip(shas, (old, in_db, new), strict=True))
    assert [rawstore.get(sha) for sha in shas] == [old, in_db, new]
    assert list(RawMessage.objects.filter(pack__isnull=False).values_list("sha256", flat=True)) == [
        shas[2]
    ]
    # An email stored in the database is not appended to a pack when seen again.
    size = sum(p.stat().st_size for p in _packs(files))
    rawstore.put_many({shas[0]: old})
    assert sum(p.stat().st_size for p in _packs(files)) == size


def test_the_database_store_keeps_the_bytes_in_the_row_and_writes_no_file(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "db"}
    batch = _batch("Order 1")
    store_copies(MailboxFactory().folders.get(name="INBOX"), 7, batch)

    row = RawMessage.objects.get()
    assert (bytes(row.data), row.pack) == (batch[0].raw, None)
    assert rawstore.get(row.sha256) == batch[0].raw
    assert not (tmp_path / "raw").exists()


def test_an_unknown_sha_is_unreadable_with_a_clear_message(files):
    with pytest.raises(rawstore.Unreadable, match="is not stored"):
        rawstore.get("0" * 64)


def _direct_appends(writer: rawstore.PackWriter) -> list[tuple[list[bytes], list[int]]]:
    """Three batches of odd sizes through `writer`: (bytes, offsets) of each."""
    appended = []
    for n, count in enumerate([3, 1, 5]):
        raws = [_email(f"Bulk {n}.{i}") + b"x" * (777 * i) for i in range(count)]
        pack, offsets = writer.append(raws)
        appended.append((raws, offsets))
    writer.close()
    return appended


def test_a_direct_writer_starts_each_batch_on_a_block_and_reads_back_byte_for_byte(files):
    writer = rawstore.PackWriter(direct=True)
    writer.root = files
    appended = _direct_appends(writer)
    assert writer.direct  # ext4 takes O_DIRECT
    (pack,) = _packs(files)
    for raws, offsets in appended:
        assert offsets[0] % 4096 == 0
        places = [(offset, len(raw)) for raw, offset in zip(raws, offsets, strict=True)]
        assert rawstore.read_places(str(pack.relative_to(files)), places) == raws


def test_a_direct_writer_writes_as_the_others_where_o_direct_is_refused(files, monkeypatch):
    real_open = os.open

    def refusing_o_direct(path, flags, *args):  # as older tmpfs or some FUSE mounts do
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    monkeypatch.setattr(rawstore.os, "open", refusing_o_direct)
    writer = rawstore.PackWriter(direct=True)
    writer.root = files
    appended = _direct_appends(writer)
    assert not writer.direct
    (pack,) = _packs(files)
    for raws, offsets in appended:
        places = [(offset, len(raw)) for raw, offset in zip(raws, offsets, strict=True)]
        assert rawstore.read_places(str(pack.relative_to(files)), places) == raws
    assert pack.stat().st_size == sum(len(raw) for raws, _ in appended for raw in raws)


def test_a_direct_writer_pads_a_small_batch_with_zeros_not_the_bytes_of_a_bigger_one(files):
    writer = rawstore.PackWriter(direct=True)
    writer.root = files
    writer.append([b"a" * 9000])
    name, (offset,) = writer.append([b"b" * 100])
    writer.close()
    pack = (files / name).read_bytes()
    assert pack[offset : offset + 4096] == b"b" * 100 + bytes(3996)


@pytest.mark.parametrize("kept", [4096, rawstore.KEPT_BUFFER])
def test_a_direct_writer_writes_batches_bigger_than_the_buffer_it_keeps(files, monkeypatch, kept):
    monkeypatch.setattr(rawstore, "KEPT_BUFFER", kept)
    writer = rawstore.PackWriter(direct=True)
    writer.root = files
    appended = _direct_appends(writer)
    (pack,) = _packs(files)
    for raws, offsets in appended:
        places = [(offset, len(raw)) for raw, offset in zip(raws, offsets, strict=True)]
        assert rawstore.read_places(str(pack.relative_to(files)), places) == raws
