"""The sync worker as a real process against a real Dovecot: push, reconnects, leases."""

import signal

import pytest

from postroom.mail.models import Message
from postroom.mailboxes.actions import do_change_password
from postroom.mailboxes.models import Mailbox
from postroom.sync.models import FolderLease
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import running, start_postroom, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def worker_env(live_env):
    # Polling every 5 minutes: anything that arrives within seconds came by push.
    return {**live_env, "POSTROOM_POLL_INTERVAL": "300", "POSTROOM_LEASE_TTL": "3"}


def _leased() -> bool:
    return FolderLease.objects.exists()


def test_new_mail_is_pushed_by_idle(dovecot, mail_user, dovecot_mailbox, worker_env, tmp_path):
    log = tmp_path / "worker.log"
    inbox = dovecot_mailbox.folders.get(name="INBOX").pk
    with running(["sync", "--forever"], worker_env, log):
        # Delivered only once IDLE is up and its catch-up sync is over, with the polls
        # minutes away: only the push path can fetch it in time.
        wait_for(
            lambda: f"folder {inbox}: synced (catch-up after IDLE came up)" in log.read_text(),
            60,
            "IDLE and its catch-up",
        )
        dovecot.deliver(make_email(subject="Pushed"), to=mail_user.address)
        wait_for(
            lambda: Message.objects.filter(copies__mailbox=dovecot_mailbox).exists(),
            60,
            "the pushed message",
        )
        wait_for(lambda: f"folder {inbox}: synced (pushed)" in log.read_text(), 10, "the log")


def test_it_reconnects_after_the_server_restarts(
    dovecot, mail_user, dovecot_mailbox, worker_env, tmp_path
):
    with running(["sync", "--forever"], worker_env, tmp_path / "worker.log"):
        wait_for(_leased, 30, "the worker to take the folder")
        dovecot.restart()
        dovecot.deliver(make_email(subject="While away"), to=mail_user.address)
        wait_for(
            lambda: Message.objects.filter(copies__mailbox=dovecot_mailbox).exists(),
            60,
            "the message delivered around the restart",
        )


def test_a_second_worker_takes_over_the_folders_of_a_dead_one(
    dovecot, mail_user, dovecot_mailbox, worker_env, tmp_path
):
    first = start_postroom(["sync", "--forever"], worker_env, tmp_path / "first.log")
    try:
        wait_for(_leased, 30, "the first worker to take the folder")
        owner = FolderLease.objects.get().worker_id
        with running(["sync", "--forever"], worker_env, tmp_path / "second.log"):
            stop(first, signal.SIGKILL)  # dies without releasing its lease
            wait_for(
                lambda: FolderLease.objects.exclude(worker_id=owner).exists(),
                60,
                "the second worker to take the folder over",
            )
            dovecot.deliver(make_email(subject="After takeover"), to=mail_user.address)
            wait_for(
                lambda: Message.objects.filter(copies__mailbox=dovecot_mailbox).exists(),
                30,
                "the message after the takeover",
            )
    finally:
        if first.poll() is None:
            stop(first, signal.SIGKILL)


def test_a_password_put_right_ends_the_back_off_of_a_refused_login(
    dovecot, mail_user, dovecot_mailbox, worker_env, tmp_path
):
    dovecot_mailbox.set_password("wrong password")
    dovecot_mailbox.save()
    dovecot.deliver(make_email(subject="Waiting for the right password"), to=mail_user.address)
    with running(["sync", "--forever"], worker_env, tmp_path / "worker.log"):
        wait_for(
            lambda: Mailbox.objects.filter(
                pk=dovecot_mailbox.pk, status=Mailbox.Status.AUTH_FAILED
            ).exists(),
            30,
            "the refused login to be recorded",
        )
        # The refusal backs off for minutes; the fixed password must not wait for that.
        do_change_password(dovecot_mailbox, mail_user.password, acting_user=UserFactory())
        wait_for(
            lambda: Message.objects.filter(copies__mailbox=dovecot_mailbox).exists(),
            30,
            "the sync with the new password",
        )
