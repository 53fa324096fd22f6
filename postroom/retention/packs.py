"""Compacting pack files: the raw bytes retention freed go from the disk too.

Packs are append-only (postroom/mail/rawstore.py): a freed message's bytes stay in
its pack until the pack is rewritten without them. Compacting one pack, each step
safe to be killed at:

1. The new pack's name is recorded (PackCompaction) before its file is written.
2. The bytes still used (each checked against its SHA-256) are written to the new
   pack and fsynced, with its directory entry.
3. One transaction moves their RawMessage rows to the new pack.
4. The old pack is deleted, then its PackCompaction row.

Started again, a compaction whose rows moved (3 committed) only deletes the old pack;
one that had not got so far throws the half-written new pack away and starts over.
A pack a sync may still be writing to (modified within POSTROOM_RETENTION_PACK_QUIET
seconds) or that holds a fetched batch not recorded yet is left for a later run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction

from postroom.mail import rawstore
from postroom.mail.models import FetchedBatch, RawMessage

from .models import PackCompaction, RetentionRun

logger = logging.getLogger(__name__)


class PackChanged(RuntimeError):
    """The pack grew or changed while it was compacted: left for a later run."""


def compact_run(run: RetentionRun) -> None:
    """Compact the packs the run freed bytes in (and those earlier runs had to leave)."""
    leftover = RetentionRun.objects.exclude(pk=run.pk).exclude(packs_to_compact=[])
    with transaction.atomic():
        current = RetentionRun.objects.select_for_update().get(pk=run.pk)
        wanted = set(current.packs_to_compact)
        for earlier in leftover.select_for_update():
            wanted |= set(earlier.packs_to_compact)
            earlier.packs_to_compact = []
            earlier.save(update_fields=["packs_to_compact"])
        current.packs_to_compact = sorted(wanted)
        current.save(update_fields=["packs_to_compact"])
    for pack in sorted(wanted):
        freed = compact_pack(run, pack)
        if freed is None:
            continue  # left for a later run: stays in the list
        with transaction.atomic():
            current = RetentionRun.objects.select_for_update().get(pk=run.pk)
            current.packs_to_compact = [p for p in current.packs_to_compact if p != pack]
            current.packs_compacted += 1
            current.disk_bytes_freed += freed
            current.save(update_fields=["packs_to_compact", "packs_compacted", "disk_bytes_freed"])


def compact_pack(run: RetentionRun, pack: str) -> int | None:
    """Rewrite one pack without its unused bytes: the bytes freed on disk, or None when
    it is left for later (written to lately, or a fetched batch still in it)."""
    root = rawstore.root()
    old = root / pack
    step, _ = PackCompaction.objects.get_or_create(pack=pack, defaults={"run": run})
    if step.new_pack:
        if not RawMessage.objects.filter(pack=pack).exists() and (root / step.new_pack).exists():
            # Killed after the rows moved: only the old file is left to delete.
            size = _size(old)
            _unlink(old)
            step.delete()
            return size
        _unlink(root / step.new_pack)  # half-written before a kill: start over
        step.new_pack = ""
        step.save(update_fields=["new_pack"])
    if FetchedBatch.objects.filter(pack=pack).exists():
        return None
    try:
        stat = old.stat()
    except FileNotFoundError:
        step.delete()
        return 0
    quiet = settings.POSTROOM["RETENTION_PACK_QUIET"]
    if time.time() - stat.st_mtime < quiet:
        logger.info("pack %s was written to lately: compacted by a later run", pack)
        return None
    live = list(
        RawMessage.objects.filter(pack=pack)
        .order_by("pack_offset")
        .values_list("sha256", "pack_offset", "size")
    )
    used = sum(size for _, _, size in live)
    if not live:
        _unlink(old)
        step.delete()
        return stat.st_size
    if used >= stat.st_size:
        step.delete()
        return 0
    try:
        data = _read_checked(old, live)
    except rawstore.Unreadable as exc:
        logger.error("pack %s not compacted: %s (postroom storage check lists it)", pack, exc)
        step.delete()
        return None
    year = date.today().year
    step.new_pack = f"packs/{year}/{uuid.uuid4().hex}.pack"
    step.save(update_fields=["new_pack"])
    offsets = _write(root / step.new_pack, data)
    try:
        with transaction.atomic():
            again = old.stat()
            if (again.st_size, again.st_mtime_ns) != (stat.st_size, stat.st_mtime_ns):
                raise PackChanged(pack)
            rows = [
                RawMessage(sha256=sha, pack=step.new_pack, pack_offset=offset, size=size)
                for (sha, _, size), offset in zip(live, offsets, strict=True)
            ]
            RawMessage.objects.bulk_update(rows, ["pack", "pack_offset", "size"], batch_size=500)
    except PackChanged:
        logger.warning("pack %s changed while it was compacted: left for a later run", pack)
        _unlink(root / step.new_pack)
        step.delete()
        return None
    _unlink(old)
    step.delete()
    freed = stat.st_size - used
    logger.info("pack %s compacted into %s: %s bytes freed", pack, step.new_pack, freed)
    return freed


def _read_checked(path: Path, live: list[tuple[str, int, int]]) -> list[bytes]:
    """The used bytes of a pack, each checked: a pack whose bytes are damaged is not
    rewritten (the damage would be copied and the original lost)."""
    data = rawstore.read_places(
        str(path.relative_to(rawstore.root())), [(o, s) for _, o, s in live]
    )
    for (sha, offset, _), raw in zip(live, data, strict=True):
        if hashlib.sha256(raw).hexdigest() != sha:
            raise rawstore.Unreadable(f"{path}: the bytes at offset {offset} are damaged")
    return data


def _write(path: Path, data: list[bytes]) -> list[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    offsets, position = [], 0
    try:
        for raw in data:
            offsets.append(position)
            view = memoryview(raw)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            position += len(raw)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(path.parent)
    return offsets


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
