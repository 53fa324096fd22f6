"""Waking the embedded job runner when a job is queued.

django-tasks-db's runner finds new jobs by polling the queue table; between two polls a
pushed email waits up to the poll interval (50 ms) before its ingest starts, on every
email, and the wait's spread is the noise of every latency figure. Here each runner on
this machine listens on a Unix datagram socket of its own in DATA_DIR/run, and a
process that queued a job rings every such socket once its transaction commits. The
poll stays as the fallback: for jobs due later (run_after), for runners on another
machine, and when a socket cannot be bound (a path too long for AF_UNIX).

Written by hand because neither django-tasks-db nor the standard library wakes a
database queue's runner; PostgreSQL's LISTEN/NOTIFY would, but not on SQLite, which is
the embedded default.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import threading
from pathlib import Path

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

PREFIX = "jobs-"
SUFFIX = ".sock"

_sender: socket.socket | None = None
_sender_lock = threading.Lock()


def bells_dir() -> Path:
    return settings.DATA_DIR / "run"


def ring() -> None:
    """Wake every job runner listening on this machine; never raises (a runner that
    misses a ring finds the job at its next poll)."""
    global _sender
    try:
        paths = list(bells_dir().glob(f"{PREFIX}*{SUFFIX}"))
    except OSError:
        return
    if not paths:
        return
    with _sender_lock:
        if _sender is None:
            _sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _sender.setblocking(False)
        sender = _sender
    for path in paths:
        try:
            sender.sendto(b"!", str(path))
        except BlockingIOError:
            pass  # its queue of rings is full: it is awake already
        except (ConnectionRefusedError, FileNotFoundError):
            _forget(path)  # its runner died without removing it
        except OSError:
            logger.debug("could not ring the job runner at %s", path, exc_info=True)


def ring_on_commit(sender=None, **kwargs) -> None:
    """django-tasks' task_enqueued receiver: the job is visible once the caller commits."""
    transaction.on_commit(ring)


def _forget(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink()


class Bell:
    """The runner's side: a socket to wait on instead of sleeping."""

    def __init__(self) -> None:
        self.path = bells_dir() / f"{PREFIX}{os.getpid()}{SUFFIX}"
        self.sock: socket.socket | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _forget(self.path)  # a dead runner's, with our pid
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(str(self.path))
            sock.setblocking(False)
            self.sock = sock
        except OSError as exc:
            logger.warning("job runner: no wake-up socket (%s); polling only", exc)

    def wait(self, timeout: float) -> bool:
        """Until rung or `timeout` seconds have passed; whether it was rung. Every ring
        so far is consumed: one poll finds all the jobs they announced."""
        if self.sock is None:
            select.select([], [], [], timeout)
            return False
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return False
        with contextlib.suppress(BlockingIOError):
            while self.sock.recv(16):
                pass
        return True

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
            _forget(self.path)
