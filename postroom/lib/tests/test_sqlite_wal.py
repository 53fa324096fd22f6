"""A run of many jobs keeps SQLite's WAL: closing the runner's connection after each
job does not checkpoint it into the database each time."""

from pathlib import Path

import pytest
from django.db import connection

from postroom.lib.sqlite_wal import wal_kept_open
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory


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
