"""A first sync killed while its jobs parse, index and capture (SQLite's WAL held open
by `sync --once` meanwhile): the job runner then finishes every email, and none is
parsed, threaded, indexed or put in the CRM twice."""

import signal

import pytest
from django.db import connection
from django.db.models import Count

from postroom.crm.models import Activity
from postroom.mail.models import ConversationMessage, Message
from postroom.mail.search import INDEX_TABLE
from postroom.testing.processes import fill_inbox, running, start_postroom, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGES = 600


def _indexed() -> int:
    """Index rows of the emails there are: the search table is raw SQL, which the flush
    between transactional tests leaves alone, so earlier tests' rows may still be in it."""
    ident = "rowid" if connection.vendor == "sqlite" else "message_id"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {INDEX_TABLE} WHERE {ident} IN (SELECT id FROM mail_message)"  # noqa: S608
        )
        return cursor.fetchone()[0]


def test_a_first_sync_killed_mid_batch_loses_and_doubles_no_email(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    fill_inbox(dovecot, mail_user.address, MESSAGES)
    env = {**live_env, "POSTROOM_SYNC_BATCH": "50"}  # a job per 50 emails: many to die in
    parsed = Message.objects.filter(status=Message.Status.PARSED)

    sync = start_postroom(["sync", mail_user.address, "--once"], env, tmp_path / "sync.log")
    wait_for(lambda: parsed.exists() or sync.poll() is not None, 120, "the first batch parsed")
    assert sync.poll() is None, "the sync ended before it could be killed mid-import"
    stop(sync, signal.SIGKILL)
    assert parsed.count() < MESSAGES

    # The runner's housekeeping queues the dead runner's job again; the rest are queued.
    with running(["jobs"], env, tmp_path / "jobs.log"):
        wait_for(
            lambda: Activity.objects.values("message").distinct().count() == MESSAGES,
            300,
            "every email in the CRM",
        )
    assert Message.objects.count() == parsed.count() == MESSAGES
    links = ConversationMessage.objects.filter(mailbox=dovecot_mailbox)
    assert links.count() == links.values("message").distinct().count() == MESSAGES
    assert _indexed() == MESSAGES
    per_email = Activity.objects.values("message").annotate(n=Count("pk"))
    assert {row["n"] for row in per_email} == {1}
