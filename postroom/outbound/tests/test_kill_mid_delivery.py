"""A job runner killed with SIGKILL while the SMTP server accepts its email: the email
still goes out exactly once, when the server files what it sends in Sent."""

import os
import signal

import pytest

from postroom.outbound.actions import Composition, do_send_email
from postroom.outbound.models import OutboxMessage
from postroom.testing.processes import running, start_postroom, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboxMessage.Status


def test_a_runner_killed_between_the_servers_accept_and_its_commit_sends_once(
    sales, alice, smtp_server, dovecot, mail_user, imap_client, live_env, tmp_path
):
    outbox = do_send_email(
        sales, Composition(to=["client@customer.test"], subject="Offer", html="<p>Hi</p>"),
        acting_user=alice,
    )  # fmt: skip
    env = {**live_env, "POSTROOM_UNDO_SEND_SECONDS": "0"}
    runners = []

    def provider_files_it_then_the_runner_dies(mail) -> None:
        # As Gmail or Exchange do: what is accepted lands in Sent. Then the runner dies
        # before it reads the 250, so it cannot commit `sent`.
        dovecot.append(mail_user.username, mail_user.password, mail.data, folder="Sent")
        os.killpg(runners[0].pid, signal.SIGKILL)

    smtp_server.on_accept(provider_files_it_then_the_runner_dies)
    try:
        runners.append(start_postroom(["jobs"], env, tmp_path / "first-runner.log"))
        assert runners[0].wait(timeout=60) == -signal.SIGKILL
    finally:
        smtp_server.on_accept(None)
    outbox.refresh_from_db()
    assert (outbox.status, len(smtp_server.messages)) == (Status.SENDING, 1)

    # A new runner finds the attempt stale (at once: the stale time is 0 here), looks in
    # Sent, and does not send again.
    with running(
        ["jobs"], {**env, "POSTROOM_SEND_STALE_AFTER": "0"}, tmp_path / "second-runner.log"
    ):
        wait_for(
            lambda: OutboxMessage.objects.filter(pk=outbox.pk, status=Status.SENT).exists(),
            60,
            "the restarted runner to settle the email",
        )
    outbox.refresh_from_db()
    assert "found in the Sent folder" in outbox.last_error
    assert len(smtp_server.messages) == 1
    assert len(imap_client.find("Sent", outbox.message_id)) == 1
