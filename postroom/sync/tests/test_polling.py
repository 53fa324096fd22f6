"""A server without IDLE: the worker polls each folder at its mailbox's interval."""

from collections.abc import Iterator

import pytest

from postroom.mail.models import Message
from postroom.sync.models import FolderLease
from postroom.testing.dovecot import Dovecot
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def dovecot_without_idle() -> Iterator[Dovecot]:
    server = Dovecot.start(idle=False)
    try:
        server.add_user("poller", "poller-secret")
        yield server
    finally:
        server.stop()


@pytest.fixture
def polled_mailbox(db, dovecot_without_idle):
    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox

    return do_add_mailbox(
        ConnectionSettings(
            address="poller@example.test",
            name="Polled",
            imap_host=dovecot_without_idle.host,
            imap_port=dovecot_without_idle.imap_port,
            imap_security="none",
            username="poller",
            password="poller-secret",
        ),
        crm_rule="none",
        poll_interval=1,
    )


def test_a_server_without_idle_is_polled_at_the_mailboxs_interval(
    dovecot_without_idle, polled_mailbox, live_env, tmp_path
):
    # The default interval is 5 minutes here: mail seen within seconds came by the
    # mailbox's own 1-second poll (there is no IDLE to push it).
    env = {**live_env, "POSTROOM_POLL_INTERVAL": "300", "POSTROOM_LEASE_TTL": "3"}

    def stored() -> int:  # fetched and stored (parsing is the job runner's, not running here)
        return Message.objects.filter(copies__mailbox=polled_mailbox).count()

    with running(["sync", "--forever"], env, tmp_path / "worker.log"):
        wait_for(FolderLease.objects.exists, 30, "the worker to take the folder")
        for count in (1, 2):  # each delivered after the worker's first sync
            dovecot_without_idle.deliver(
                make_email(subject=f"Poll {count}"), to="poller@example.test"
            )
            wait_for(lambda n=count: stored() >= n, 60, f"email {count} to be polled in")
