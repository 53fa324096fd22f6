"""Parsing in the pool's worker processes (mail/ahead.py): the same result as in the job,
for every email of the corpora, and nothing lost when a worker dies."""

import os
import signal
from pathlib import Path

import pytest

from postroom.mail import ahead, rawstore, search
from postroom.mail.ingest import FetchedMessage, _parse_into, ingest_messages, store_copies
from postroom.mail.models import Message
from postroom.mail.parse import content_hash
from postroom.mail.tests.test_corpora import CORPORA, _files
from postroom.testing import hostile
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email


@pytest.fixture
def pool(monkeypatch):
    """A pool of one worker process, whatever the machine's CPUs; gone afterwards."""
    monkeypatch.setenv("POSTROOM_PARSE_PROCESSES", "1")
    ahead._AHEAD.reset()
    yield ahead._AHEAD
    ahead._AHEAD.reset()


def _corpus() -> dict[str, bytes]:
    raws = {}
    for root in CORPORA.values():
        if Path(root).is_dir():
            for path in _files(root):
                raw = path.read_bytes()
                raws[rawstore.sha256_of(raw)] = raw
    raws.update((rawstore.sha256_of(raw), raw) for raw in (b"\x00\x01 not an email", b""))
    return raws


def _same(one: ahead.Parsed, other: ahead.Parsed) -> bool:
    if one.error is not None or other.error is not None:
        return type(one.error) is type(other.error) and str(one.error) == str(other.error)
    return one == other


@pytest.mark.django_db
def test_the_pool_parses_every_corpus_email_as_the_job_does(pool):
    raws = _corpus()
    assert len(raws) >= ahead.MIN_BATCH

    in_workers = ahead.parse_all(raws)

    assert pool.pool is not None  # half of them went to the worker
    assert in_workers.keys() == raws.keys()
    differ = [sha for sha, raw in raws.items() if not _same(in_workers[sha], ahead.parse_raw(raw))]
    assert differ == []


@pytest.mark.django_db
def test_a_batch_parsed_ahead_is_ingested_as_one_parsed_in_the_job(pool):
    mailbox = MailboxFactory()
    raws = [make_email(subject=f"Order {i} zebra", body=f"Quote {i} for pumps") for i in range(70)]
    raws[5] = b"\x00\x01 not an email at all"
    ahead.start({rawstore.sha256_of(raw): raw for raw in raws})
    assert len(pool.waiting) == 70
    folder = mailbox.folders.get(name="INBOX")
    ids = store_copies(folder, 7, [FetchedMessage(uid, raw) for uid, raw in enumerate(raws, 1)])

    messages = ingest_messages(ids, mailbox)

    assert pool.waiting == {}  # every result was taken
    quarantined = [m for m in messages if m.status == Message.Status.QUARANTINED]
    assert [m.raw_sha256 for m in quarantined] == [rawstore.sha256_of(raws[5])]
    for message, raw in zip(messages, raws, strict=True):
        stored = Message.objects.get(pk=message.pk)
        expected = Message(raw_sha256=stored.raw_sha256)
        _parse_into(expected, raw)
        for field in ("subject", "from_address", "text_body", "status", "error"):
            assert getattr(stored, field) == getattr(expected, field), field
        assert stored.content_hash == content_hash(raw)
    indexed = search.indexed_bodies([Message.objects.get(pk=m.pk) for m in messages])
    assert len(indexed) == 69 and all("pumps" in words for words in indexed.values())


@pytest.mark.django_db
def test_a_worker_killed_while_parsing_ahead_loses_nothing(pool):
    mailbox = MailboxFactory()
    raws = [make_email(subject=f"Order {i}", body=f"Quote {i}") for i in range(80)]
    ahead.start({rawstore.sha256_of(raw): raw for raw in raws})
    (pid,) = pool.pool._processes  # the one worker
    os.kill(pid, signal.SIGKILL)
    folder = mailbox.folders.get(name="INBOX")
    ids = store_copies(folder, 7, [FetchedMessage(uid, raw) for uid, raw in enumerate(raws, 1)])

    messages = ingest_messages(ids, mailbox)

    assert [m.status for m in messages] == [Message.Status.PARSED] * 80
    assert {m.subject for m in messages} == {f"Order {i}" for i in range(80)}


@pytest.mark.django_db
def test_the_hostile_corpus_parsed_ahead_is_stored_every_email_and_taken_from_the_worker(
    pool, caplog
):
    mailbox = MailboxFactory()
    raws = [build() for build in hostile.CORPUS.values()]
    raws += [make_email(subject=f"Order {i}") for i in range(ahead.MIN_BATCH - len(raws))]
    ahead.start({rawstore.sha256_of(raw): raw for raw in raws})
    assert len(pool.waiting) == len(raws)
    folder = mailbox.folders.get(name="INBOX")
    ids = store_copies(folder, 7, [FetchedMessage(uid, raw) for uid, raw in enumerate(raws, 1)])

    messages = ingest_messages(ids, mailbox)

    assert pool.waiting == {}  # every result came back from the worker and was taken
    assert not [r for r in caplog.records if r.name == "postroom.mail.ahead"]  # no fallback
    assert len(messages) == len(raws)
    assert {m.status for m in messages} <= {Message.Status.PARSED, Message.Status.QUARANTINED}
    assert all(m.error for m in messages if m.status == Message.Status.QUARANTINED)
    assert Message.objects.filter(pk__in=ids, status=Message.Status.RECEIVED).count() == 0
