"""Push after a long IMAP outage: the worker (a real process) against a real Dovecot that
is stopped for longer than the reconnect back-off would once grow, then started again."""

import pytest

from postroom.mail.models import Message
from postroom.sync.models import FolderLease
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

# Failed reconnects to sit through while the server is down. Doubling from 1 s without
# a low cap, the next wait after the 7th would be 64 s +-25%; capped, it is 20 s +-25%.
FAILURES_DURING_OUTAGE = 7
# A generous bound on waiting for the mail after the server is back: above the capped
# back-off plus a sync, below what an uncapped one would wait.
BACK_WITHIN = 40


def _stored(mailbox) -> int:
    """Emails of the mailbox stored (parsing is the job runner's, not running here)."""
    return Message.objects.filter(copies__mailbox=mailbox).count()


def test_push_comes_back_soon_after_a_long_outage(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    # Polls minutes apart: mail that arrives within seconds came by push.
    env = {**live_env, "POSTROOM_POLL_INTERVAL": "600", "POSTROOM_IDLE_SAFETY_POLL": "900"}
    log = tmp_path / "worker.log"
    inbox = dovecot_mailbox.folders.get(name="INBOX").pk
    failed = f"push for folder {inbox}: "

    def failures() -> int:
        return sum(
            1 for line in log.read_text().splitlines() if failed in line and "reconnecting" in line
        )

    with running(["sync", "--forever"], env, log):
        wait_for(lambda: FolderLease.objects.exists(), 30, "the worker to take the folder")
        dovecot.deliver(make_email(subject="Before"), to=mail_user.address)
        wait_for(lambda: _stored(dovecot_mailbox) == 1, 30, "push before the outage")

        with dovecot.down():
            wait_for(
                lambda: failures() >= FAILURES_DURING_OUTAGE,
                180,
                f"{FAILURES_DURING_OUTAGE} failed reconnects while the server is down",
            )
            outage_logged = len(log.read_text())
        dovecot.deliver(make_email(subject="After"), to=mail_user.address)
        wait_for(
            lambda: _stored(dovecot_mailbox) == 2,
            BACK_WITHIN,
            "mail delivered after the outage, by push",
        )

        def fetched_by_push() -> bool:
            # A push of the new mail, or the catch-up sync that a new IDLE asks for when
            # the mail came before it: both the push path, neither the minutes-away poll.
            since = log.read_text()[outage_logged:]
            return f"folder {inbox}: synced (pushed)" in since or (
                f"folder {inbox}: synced (catch-up after IDLE came up)" in since
            )

        wait_for(fetched_by_push, BACK_WITHIN, "the push path to have fetched it")
