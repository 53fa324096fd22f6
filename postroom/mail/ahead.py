"""Parsing in another process, ahead of the ingest job that writes what it found.

Parsing is pure work on a message's raw bytes (the stdlib parser, charsets, the
index's words of the body) and a first sync's biggest cost after the database; the
job runner is one process on one CPU. Here a pool of worker processes (one fewer than
the CPUs, at least one; POSTROOM_PARSE_PROCESSES) parses:

- ahead: the `record` job hands over the raw bytes it has just read back from a pack
  (`start`), so that their parse runs while the job runner records the next batches
  and writes the batches parsed before;
- beside: an ingest job of a big batch that nothing parsed ahead sends half of it to
  the pool and parses the other half itself (`parse_all`).

What a worker returns is exactly what `parse_message` returns in the job (or the
exception it raised, with its traceback as a note), with the email's content hash and
the indexed words of its body: the same functions on the same bytes, keyed by their
SHA-256. Nothing here is durable and nothing is written: the ingest job still decides,
in its transaction, what each email becomes; a result nobody takes is dropped (oldest
first past AHEAD_BYTES of raw mail in flight), and a job that finds none parses as
before. A pool that breaks (a worker killed) is replaced, and its messages parsed in
the job.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from .parse import ParsedMessage

logger = logging.getLogger(__name__)

# A batch smaller than this is parsed in the job: a push or the ingress, one email,
# must not wait for another process.
MIN_BATCH = 64
# Emails a worker parses per call: few enough that results stream back, enough that
# each call's overhead (pickling, a pipe round trip) is small beside the parsing.
CHUNK = 50
# Raw bytes sent ahead and not taken yet: past it nothing more is sent ahead (the
# ingest jobs take the oldest first, and parse what was not sent themselves).
AHEAD_BYTES = 128 * 1024 * 1024
# A result not taken by then is dropped: its ingest ran in another process, or found
# the email parsed already.
AHEAD_SECONDS = 600


@dataclass(frozen=True)
class Parsed:
    """What parsing the bytes gave: the message, or the exception parse_message raised."""

    parsed: ParsedMessage | None
    error: BaseException | None
    content_hash: str
    body_words: str | None  # search.indexed_bodies of the parsed message


def parse_raw(raw: bytes) -> Parsed:
    """What the ingest job would compute from these bytes (runs in a worker)."""
    from .ingest import _apply
    from .models import Message
    from .parse import content_hash, parse_message
    from .search import indexed_bodies

    try:
        parsed = parse_message(raw)
    except Exception as exc:  # handed to the job, which quarantines as it always did
        exc.add_note(traceback.format_exc())
        return Parsed(None, exc, "", None)
    message = Message()
    _apply(message, parsed)
    return Parsed(parsed, None, content_hash(raw), indexed_bodies([message])[None])


def _parse_chunk(raws: list[bytes]) -> list[Parsed]:
    return [parse_raw(raw) for raw in raws]


def _setup_worker() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()


class _Ahead:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pool: ProcessPoolExecutor | None = None
        self.pid = 0
        # sha256 -> (future of the chunk, index in it, raw size, when), in the order sent
        self.waiting: OrderedDict[str, tuple[Future, int, int, float]] = OrderedDict()
        self.bytes = 0
        self.failed = 0  # the pid of a process whose pool could not be started

    def processes(self) -> int:
        configured = os.environ.get("POSTROOM_PARSE_PROCESSES")
        if configured is not None:
            return max(0, int(configured))
        return max(1, (os.cpu_count() or 1) - 1)

    def executor(self) -> ProcessPoolExecutor | None:
        if self.pool is not None and self.pid == os.getpid():
            return self.pool
        count = self.processes()
        if not count or multiprocessing.current_process().daemon or self.failed == os.getpid():
            # A daemonic process (a Celery prefork child) may not have children.
            return None
        # forkserver: the workers start from a clean interpreter (django.setup() of their
        # own), never a fork of this one with its open database connections and threads.
        context = multiprocessing.get_context("forkserver")
        self.pool = ProcessPoolExecutor(count, mp_context=context, initializer=_setup_worker)
        self.pid = os.getpid()
        self.waiting.clear()
        self.bytes = 0
        return self.pool

    def submit(self, raws: dict[str, bytes], *, bounded: bool) -> None:
        """Send the emails to the pool (`bounded`: only while under AHEAD_BYTES)."""
        with self.lock:
            now = time.monotonic()
            while self.waiting and next(iter(self.waiting.values()))[3] < now - AHEAD_SECONDS:
                self.bytes -= self.waiting.popitem(last=False)[1][2]
            todo = [(sha, raw) for sha, raw in raws.items() if sha not in self.waiting]
            if not todo:
                return
            try:
                pool = self.executor()
            except Exception:  # no processes to be had here: the jobs parse, as before
                logger.exception("no parsing processes could be started: parsed in the jobs")
                self.failed, self.pool = os.getpid(), None
                return
            if pool is None:
                return
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start : start + CHUNK]
                size = sum(len(raw) for _, raw in chunk)
                if bounded and self.bytes + size > AHEAD_BYTES:
                    return
                try:
                    future = pool.submit(_parse_chunk, [raw for _, raw in chunk])
                except Exception as exc:  # a broken or shut-down pool: a new one next time
                    logger.warning("parsing processes unavailable (%r): parsed in the job", exc)
                    self.pool = None
                    return
                for index, (sha, raw) in enumerate(chunk):
                    self.waiting[sha] = (future, index, len(raw), now)
                self.bytes += size

    def take(self, sha: str) -> Parsed | None:
        with self.lock:
            if self.pid != os.getpid():
                return None
            found = self.waiting.pop(sha, None)
            if found is None:
                return None
            future, index, size, _ = found
            self.bytes -= size
        try:
            return future.result()[index]
        except BrokenProcessPool as exc:  # a worker was killed: a new pool next time
            logger.warning("the parsing processes broke (%s): parsed in the job", exc)
            self.reset()
        except Exception as exc:  # e.g. a result that would not pickle
            logger.warning("parsing in a worker process failed (%r): parsed in the job", exc)
        return None

    def reset(self) -> None:
        with self.lock:
            pool, self.pool = self.pool, None
            self.waiting.clear()
            self.bytes = 0
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


_AHEAD = _Ahead()


@atexit.register
def _shutdown() -> None:
    if _AHEAD.pool is not None and _AHEAD.pid == os.getpid():
        _AHEAD.reset()


def start(raws: dict[str, bytes]) -> None:
    """Have these raw emails (by SHA-256) parsed ahead, when there are enough of them."""
    if len(raws) >= MIN_BATCH:
        _AHEAD.submit(raws, bounded=True)


def parse_all(raws: dict[str, bytes]) -> dict[str, Parsed]:
    """Each raw email parsed: taken from what was parsed ahead, the rest split between
    the pool and this process when there are enough of them, else parsed here."""
    found: dict[str, Parsed] = {}
    rest = []
    for sha in raws:
        if (ready := _AHEAD.take(sha)) is not None:
            found[sha] = ready
        else:
            rest.append(sha)
    if len(rest) >= MIN_BATCH:
        # The second half goes to the pool while this process parses the first.
        half = len(rest) // 2
        _AHEAD.submit({sha: raws[sha] for sha in rest[half:]}, bounded=False)
        for sha in rest[:half]:
            found[sha] = parse_raw(raws[sha])
        rest = rest[half:]
    for sha in rest:
        found[sha] = _AHEAD.take(sha) or parse_raw(raws[sha])
    return found
