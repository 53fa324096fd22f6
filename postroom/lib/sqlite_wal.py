"""SQLite's WAL held open across many short-lived connections, and checkpointed beside
the writers instead of inside their commits."""

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Iterator

from django.db import connection

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def wal_kept_open(checkpoint_every: float | None = None) -> Iterator[None]:
    """On SQLite, a connection of its own held open meanwhile (idle, no transaction), so
    that Django's, closed after every job or request (CONN_MAX_AGE 0), is never the
    database's last: the last connection to close checkpoints the whole WAL into the
    database file and fsyncs it. `sync --once` of 10,000 emails ran 60 jobs and so 60
    checkpoints, 3 s of its wall time on a slow disk. SQLite still checkpoints every
    wal_autocheckpoint pages, and once when this connection closes, the last.

    With `checkpoint_every` (seconds), a thread checkpoints what the WAL holds that
    often (PASSIVE: it never waits for, nor holds up, a reader or a writer), so that
    the writers' commits rarely reach wal_autocheckpoint and copy and fsync 64 MB of
    pages themselves: a first sync's ingest jobs did, about 0.15 ms per email, in the
    job runner's thread. The copy and its fsync are the same, in a thread that waits
    on the disk with the GIL released. Nothing on PostgreSQL."""
    if connection.vendor != "sqlite":
        yield
        return
    name = connection.settings_dict["NAME"]
    keeper = sqlite3.connect(name, timeout=1)
    stop = threading.Event()
    checkpointer = None
    try:
        # A connection takes part in the WAL once it has read: an idle read, then none.
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if checkpoint_every:
            checkpointer = threading.Thread(
                target=_checkpoint, args=(name, stop, checkpoint_every), daemon=True
            )
            checkpointer.start()
        yield
    finally:
        stop.set()
        if checkpointer is not None:
            checkpointer.join()
        keeper.close()


def _checkpoint(name: str, stop: threading.Event, every: float) -> None:
    try:
        checkpointer = sqlite3.connect(name, timeout=1, isolation_level=None)
    except sqlite3.Error:
        logger.exception("the WAL checkpointer could not connect: the writers checkpoint")
        return
    try:
        while not stop.wait(every):
            try:
                checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error as exc:  # busy, say: the writers' own checkpoints go on
                logger.debug("a background WAL checkpoint failed: %s", exc)
    finally:
        checkpointer.close()
