"""A database that stays locked past its busy timeout costs the sync worker a lease
round, not its life: before, the heartbeat's "database is locked" ended the process,
and with it all of `postroom run`."""

import contextlib
import sqlite3
import time
from pathlib import Path

import pytest
from django.db import connection

from postroom.sync.models import SyncWorker
from postroom.testing.processes import running, wait_for


@contextlib.contextmanager
def _write_locked(seconds: float):
    """Hold the database's write lock (on PostgreSQL: the workers' table) for a while."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        other = sqlite3.connect(settings["NAME"], isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        other = psycopg.connect(
            host=settings["HOST"], port=settings["PORT"], user=settings["USER"],
            dbname=settings["NAME"],
        )  # fmt: skip
        other.execute("LOCK TABLE sync_syncworker IN EXCLUSIVE MODE")
    try:
        yield
        time.sleep(seconds)
    finally:
        other.rollback()
        other.close()


def _heartbeat():
    worker = SyncWorker.objects.first()
    return worker.heartbeat_at if worker else None


@pytest.mark.django_db(transaction=True)
def test_the_worker_survives_a_database_locked_past_its_busy_timeout(live_env, tmp_path):
    env = {**live_env, "POSTROOM_SQLITE_BUSY_TIMEOUT": "0.5", "POSTROOM_LEASE_TTL": "3"}
    log = tmp_path / "worker.log"
    with running(["sync", "--forever"], env, log) as worker:
        wait_for(_heartbeat, 60, "the worker's first heartbeat")
        with _write_locked(seconds=3):
            pass
        released = _heartbeat()
        wait_for(
            lambda: worker.poll() is not None or _heartbeat() != released,
            60,
            "a heartbeat after the lock",
        )
        assert worker.poll() is None, Path(log).read_text()
    if connection.vendor == "sqlite":
        assert "database is locked" in Path(log).read_text()
