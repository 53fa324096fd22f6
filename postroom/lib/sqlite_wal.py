"""SQLite's WAL held open across many short-lived connections."""

import contextlib
import sqlite3
from collections.abc import Iterator

from django.db import connection


@contextlib.contextmanager
def wal_kept_open() -> Iterator[None]:
    """On SQLite, a connection of its own held open meanwhile (idle, no transaction), so
    that Django's, closed after every job or request (CONN_MAX_AGE 0), is never the
    database's last: the last connection to close checkpoints the whole WAL into the
    database file and fsyncs it. `sync --once` of 10,000 emails ran 60 jobs and so 60
    checkpoints, 3 s of its wall time on a slow disk. SQLite still checkpoints every
    wal_autocheckpoint pages, and once when this connection closes, the last. Nothing
    on PostgreSQL."""
    if connection.vendor != "sqlite":
        yield
        return
    keeper = sqlite3.connect(connection.settings_dict["NAME"], timeout=1)
    try:
        # A connection takes part in the WAL once it has read: an idle read, then none.
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchone()
        yield
    finally:
        keeper.close()
