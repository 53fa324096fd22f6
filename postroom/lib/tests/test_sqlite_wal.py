"""A run of many jobs keeps SQLite's WAL: closing the runner's connection after each
job does not checkpoint it into the database each time."""

import threading
from pathlib import Path

import pytest
from django.db import connection

from postroom.lib.sqlite_wal import wal_kept_open
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory
from postroom.testing.processes import wait_for


@pytest.mark.django_db(transaction=True)
def test_closing_the_runners_connection_leaves_the_wal_to_sqlites_own_checkpoints():
    with wal_kept_open():
        MailboxFactory(address="wal@acme.test")
        connection.close()  # as the job runner does after each job
        if connection.vendor == "sqlite":
            wal = Path(f"{connection.settings_dict['NAME']}-wal")
            # The last connection to close checkpoints the WAL and deletes it: this
            # one was not the last.
            assert wal.exists() and wal.stat().st_size > 0
        assert Mailbox.objects.filter(address="wal@acme.test").exists()


@pytest.mark.django_db(transaction=True)
def test_the_checkpointer_copies_the_wal_into_the_database_while_the_writers_go_on():
    threads = threading.active_count()
    with wal_kept_open(checkpoint_every=0.01):
        MailboxFactory(address="checkpointed@acme.test")
        connection.close()
        if connection.vendor == "sqlite":
            # 20 rows are far from wal_autocheckpoint's pages: only the thread's
            # checkpoint puts the row in the database file itself, while the WAL is open.
            database = Path(connection.settings_dict["NAME"])
            wait_for(
                lambda: b"checkpointed@acme.test" in database.read_bytes(),
                30,
                "the row copied from the WAL into the database file",
            )
        assert Mailbox.objects.filter(address="checkpointed@acme.test").exists()
    assert threading.active_count() == threads  # the checkpointer (SQLite's) is gone
