"""Content-addressed storage of raw messages: one RawMessage row per SHA-256.

Where the bytes go is POSTROOM_RAW_STORE:

- "db": in the row (`data`), written in the caller's transaction, so raw bytes, the
  copies that point at them and the folder cursor commit together or not at all. The
  choice when several machines share a PostgreSQL database.
- "files": appended to a pack file under DATA_DIR/raw/packs/<yyyy>/, one write and one
  fsync per batch, *before* the caller's transaction commits the rows that point at
  them (pack, offset, size). SQLite's WAL writes every blob twice (log, then database);
  a pack writes it once. A crash after the pack write and before the commit leaves
  bytes no row points at: harmless, and the re-fetch appends them again.

Either way the row's sha256 is the unique key, so deduplication does not depend on the
store, and reads accept both kinds of row: switching the setting, or upgrading from a
version that kept every message in the database, needs no conversion. Every read is
checked against the SHA-256; bytes that are missing or damaged raise `Unreadable`
with a message that says which pack and why, and callers quarantine instead of crash.
"""

import errno
import hashlib
import logging
import mmap
import os
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings

from .bulk import insert_ignoring_conflicts, select_in
from .models import RawMessage

logger = logging.getLogger(__name__)

# A writer starts a new pack file past this size: big enough that a day of mail is a
# handful of files, small enough to copy, back up or check one at a time.
PACK_LIMIT = 256 * 1024 * 1024
# iovecs per writev (the POSIX minimum of IOV_MAX).
_IOV_MAX = 1024


class Unreadable(LookupError):
    """The raw bytes of a message cannot be read back as they were stored."""


def sha256_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def root() -> Path:
    """The file store's directory: pack paths in RawMessage.pack are relative to it."""
    return Path(settings.DATA_DIR) / "raw"


def in_files() -> bool:
    return settings.POSTROOM["RAW_STORE"] == "files"


@dataclass
class Staged:
    """Bytes made ready for their rows: written to a pack (file store) or held for the
    row (database store). `record` inserts the rows in the caller's transaction."""

    columns: tuple[str, ...]
    rows: list[tuple]


def put_many(raws: dict[str, bytes]) -> None:
    """Store {sha256: bytes}; bytes already stored are skipped, not rewritten.

    Runs in the caller's transaction. With the file store the new bytes are durable on
    disk when this returns; the rows commit with the caller's transaction.
    """
    record(stage(unknown(raws)))


def unknown(raws: dict[str, bytes]) -> dict[str, bytes]:
    """Those of `raws` not stored yet, by one query on the primary key per 5,000.

    With the database store every one is returned: its INSERT skips known rows itself,
    and the query would cost as much as the conflict.
    """
    if not raws or not in_files():
        return raws
    known = {sha for (sha,) in select_in(RawMessage, "sha256", list(raws), ["sha256"])}
    return {sha: raw for sha, raw in raws.items() if sha not in known}


def stage(raws: dict[str, bytes], writer: "PackWriter | None" = None) -> Staged:
    """Make `raws` ready to be recorded, without the database: with the file store they
    are appended to a pack and fsynced (this thread's, or the given `writer`, e.g. the
    one of the thread that hands the work over, so that a helper thread adds to a pack
    that lives on instead of starting its own). Safe in any thread: an initial sync
    writes one batch's pack while it inserts the rows of the one before."""
    if not in_files():
        return Staged(("sha256", "data"), list(raws.items()))
    rows = []
    if raws:
        pack, offsets = (writer or pack_writer()).append(list(raws.values()))
        rows = [
            (sha, pack, offset, len(raw))
            for (sha, raw), offset in zip(raws.items(), offsets, strict=True)
        ]
    return Staged(("sha256", "pack", "pack_offset", "size"), rows)


def record(staged: Staged) -> None:
    """The rows of staged bytes, in the caller's transaction. Another worker may have
    stored the same bytes meanwhile: its row wins, and these bytes stay unreferenced in
    their pack (harmless)."""
    if staged.rows:
        insert_ignoring_conflicts(RawMessage, staged.columns, staged.rows)


def read_places(pack: str, places: list[tuple[int, int]]) -> list[bytes]:
    """The bytes at each (offset, size) of a pack, written there by `PackWriter.append`
    but not recorded yet, so not hashed yet: Unreadable when the pack is gone or short."""
    path = root() / pack
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise Unreadable(f"pack file {path} cannot be opened: {exc.strerror}") from exc
    try:
        found = [os.pread(fd, size, offset) for offset, size in places]
    except OSError as exc:
        raise Unreadable(f"reading {path} failed: {exc.strerror}") from exc
    finally:
        os.close(fd)
    for data, (offset, size) in zip(found, places, strict=True):
        if len(data) != size:
            raise Unreadable(
                f"pack file {path} is truncated ({len(data)} of {size} bytes at offset {offset})"
            )
    return found


def get(sha256: str) -> bytes:
    """The bytes stored under `sha256`; Unreadable when they are missing or damaged."""
    errors: dict[str, str] = {}
    found = get_many([sha256], errors=errors)
    if sha256 not in found:
        raise Unreadable(errors.get(sha256) or f"raw message {sha256} is not stored")
    return found[sha256]


def get_many(shas: Iterable[str], errors: dict[str, str] | None = None) -> dict[str, bytes]:
    """{sha256: bytes} of those stored and readable, in one query per thousand; each pack
    file is opened once. Why one could not be read goes into `errors` (and the log)."""
    wanted = list(dict.fromkeys(shas))
    found: dict[str, bytes] = {}
    in_packs: dict[str, list[tuple[str, int, int]]] = {}
    for start in range(0, len(wanted), 1000):
        rows = RawMessage.objects.filter(sha256__in=wanted[start : start + 1000]).values_list(
            "sha256", "data", "pack", "pack_offset", "size"
        )
        for sha, data, pack, offset, size in rows:
            if pack is None:
                found[sha] = bytes(data)
            else:
                in_packs.setdefault(pack, []).append((sha, offset, size))
    problems: dict[str, str] = {}
    for pack, entries in in_packs.items():
        _read_pack(pack, entries, found, problems)
    for sha in wanted:
        if sha not in found and sha not in problems:
            problems[sha] = f"raw message {sha} is not stored"
    for problem in problems.values():
        logger.error("raw message unreadable: %s", problem)
    if errors is not None:
        errors.update(problems)
    return found


def _read_pack(
    pack: str,
    entries: list[tuple[str, int, int]],
    found: dict[str, bytes],
    problems: dict[str, str],
) -> None:
    path = root() / pack
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        for sha, _, _ in entries:
            problems[sha] = f"raw message {sha}: pack file {path} cannot be opened: {exc.strerror}"
        return
    try:
        for sha, offset, size in sorted(entries, key=lambda entry: entry[1]):
            try:
                data = os.pread(fd, size, offset)
            except OSError as exc:
                problems[sha] = f"raw message {sha}: reading {path} failed: {exc.strerror}"
                continue
            if len(data) != size:
                problems[sha] = (
                    f"raw message {sha}: pack file {path} is truncated "
                    f"({len(data)} of {size} bytes at offset {offset})"
                )
            elif hashlib.sha256(data).hexdigest() != sha:
                problems[sha] = (
                    f"raw message {sha}: pack file {path} is damaged "
                    f"(the {size} bytes at offset {offset} have another SHA-256)"
                )
            else:
                found[sha] = data
    finally:
        os.close(fd)


# O_DIRECT writes whole blocks at block offsets: 4 KiB suits every common disk.
_BLOCK = 4096
# A direct writer keeps a buffer this big at most (an initial fetch's batch of ~10 KB
# emails is 5 MB); a batch of bigger ones gets a buffer of its own.
KEPT_BUFFER = 16 * 1024 * 1024


class PackWriter:
    """Appends to one pack file of its own; one per thread of each process, so writers
    never share a file. The lock only serialises a thread's writer lent to a helper.

    A `direct` writer is for bulk (an initial fetch's batches of megabytes): it writes
    with O_DIRECT from a page-aligned buffer, each batch starting on a block boundary.
    The bytes skip the page cache: no copy into it and no dirty pages to write back,
    which on a small machine cost as much CPU as fetching them. Where the file system
    refuses O_DIRECT (tmpfs), it writes as the others do.
    """

    def __init__(self, *, direct: bool = False) -> None:
        self.lock = threading.Lock()
        self.direct = direct and hasattr(os, "O_DIRECT")
        self.fd: int | None = None
        self.root: Path | None = None
        self.name = ""
        self.end = 0
        self.year = 0
        self._buffer: mmap.mmap | None = None  # a direct writer's, kept between batches

    def append(self, raws: list[bytes]) -> tuple[str, list[int]]:
        """Write `raws` one after the other and fsync: (pack name, offset of each)."""
        with self.lock:
            return self._append(raws)

    def _append(self, raws: list[bytes]) -> tuple[str, list[int]]:
        total = sum(map(len, raws))
        year = date.today().year
        if (
            self.fd is None
            or (self.end and self.end + total > PACK_LIMIT)
            or year != self.year
            or os.fstat(self.fd).st_nlink == 0  # deleted under us: its bytes would be lost
        ):
            self._open_new(year)
        assert self.fd is not None
        offsets, position = [], self.end
        for raw in raws:
            offsets.append(position)
            position += len(raw)
        try:
            if self.direct:
                buffer = self._direct_buffer(total)
                try:
                    position = self.end + _write_direct(self.fd, raws, total, self.end, buffer)
                finally:
                    if buffer is not self._buffer:
                        buffer.close()
            else:
                _write_all(self.fd, raws)
            os.fsync(self.fd)
        except OSError:
            # The file's end is unknown now (a partial write): the next batch starts a
            # new pack; what this one wrote is unreferenced.
            self.close()
            raise
        self.end = position
        return self.name, offsets

    def _direct_buffer(self, total: int) -> mmap.mmap:
        """A page-aligned buffer for `total` bytes in whole blocks. The one of the last
        batch when it is big enough: a fresh mapping's every page faults and is zeroed
        on first touch, which cost as much CPU as the copy itself."""
        padded = max(-(-total // _BLOCK), 1) * _BLOCK
        if self._buffer is None or len(self._buffer) < padded:
            self._drop_buffer()
            buffer = mmap.mmap(-1, padded)  # anonymous: page-aligned
            if padded > KEPT_BUFFER:
                return buffer  # a rare batch of big messages: not held on to
            self._buffer = buffer
        return self._buffer

    def _open_new(self, year: int) -> None:
        self.close()
        directory = root() / "packs" / str(year)
        created = _make_dirs(directory)
        name = f"packs/{year}/{uuid.uuid4().hex}.pack"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        try:
            fd = os.open(
                root() / name, flags | (os.O_DIRECT if self.direct else os.O_APPEND), 0o600
            )
        except OSError as exc:
            if not self.direct or exc.errno != errno.EINVAL:
                raise
            self.direct = False  # not on this file system
            fd = os.open(root() / name, flags | os.O_APPEND, 0o600)
        # The new file's directory entry must be as durable as its bytes.
        for path in {directory, *created}:
            _fsync_dir(path)
        self.fd, self.name, self.end, self.year = fd, name, 0, year

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
        self.fd = None
        self._drop_buffer()

    def release_buffer(self) -> None:
        """Give a direct writer's buffer back (after a bulk write: it is megabytes)."""
        with self.lock:
            self._drop_buffer()

    def _drop_buffer(self) -> None:
        if self._buffer is not None:
            self._buffer.close()
        self._buffer = None


def _write_direct(fd: int, raws: list[bytes], total: int, offset: int, buffer: mmap.mmap) -> int:
    """Write `raws` back to back at `offset` (a block boundary) through `buffer`
    (page-aligned, at least `total` bytes in whole blocks), zero-padded to whole blocks;
    the bytes taken, padding included."""
    if not total:
        return 0
    padded = -(-total // _BLOCK) * _BLOCK
    position = 0
    for raw in raws:
        buffer[position : position + len(raw)] = raw
        position += len(raw)
    buffer[total:padded] = bytes(padded - total)
    view, done = memoryview(buffer), 0
    try:
        while done < padded:
            written = os.pwrite(fd, view[done:padded], offset + done)
            if written <= 0 or written % _BLOCK:
                raise OSError(errno.EIO, f"a direct write stopped after {written} bytes")
            done += written
    finally:
        view.release()
    return padded


def _write_all(fd: int, raws: list[bytes]) -> None:
    views = [memoryview(raw) for raw in raws if raw]
    first = 0
    while first < len(views):
        written = os.writev(fd, views[first : first + _IOV_MAX])
        while first < len(views) and written >= len(views[first]):
            written -= len(views[first])
            first += 1
        if written:  # a short write inside one message: the rest of it next
            views[first] = views[first][written:]


def _make_dirs(directory: Path) -> list[Path]:
    """Create `directory` and missing parents; the parents of those created (to fsync)."""
    missing = []
    path = directory
    while not path.exists():
        missing.append(path)
        path = path.parent
    directory.mkdir(parents=True, exist_ok=True)
    return [p.parent for p in missing]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_local = threading.local()


def pack_writer(*, direct: bool = False) -> PackWriter:
    """This thread's writer (its `direct` one for bulk); a forked child starts its own."""
    if getattr(_local, "pid", None) != os.getpid():
        _local.writers, _local.pid = {}, os.getpid()
    writer = _local.writers.get(direct)
    if writer is None:
        writer = _local.writers[direct] = PackWriter(direct=direct)
    elif writer.root != root():
        writer.close()  # DATA_DIR changed (tests): a pack in the new directory
    writer.root = root()
    return writer
