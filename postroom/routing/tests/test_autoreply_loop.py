"""Two Postroom instances whose mailboxes both answer everything, each sending into the
other: one email starts it, exactly one auto-reply goes out, and none after it.

Instance A is this test's database: its mailbox syncs a Dovecot user, run by `postroom
worker` (IDLE sync and jobs). Instance B is a second installation (its own data
directory and SQLite database) whose mailbox takes mail through `postroom ingress`, run
by `postroom jobs`. Neither knows the other's addresses as its own, so only the
auto-reply's marks stop the loop. A's SMTP server is a sink that forwards every email
to B's ingress; B's is a sink that forwards into A's Dovecot. The test then watches
long enough for several round trips (each takes a second or two) and counts what both
sinks received.
"""

import os
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox
from postroom.outbound.models import OutboxMessage
from postroom.routing.autoreply_models import AutoReply, AutoReplyLog
from postroom.testing.dovecot import free_port
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for
from postroom.testing.smtp import CapturingSMTPServer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# Seconds to keep watching after the first auto-reply: a loop would have made several
# more round trips by then (A's IDLE push and B's ingress each take about a second).
WATCH = 20.0
B_ADDRESS = "support@two-robots.test"


def forward(sink: CapturingSMTPServer, deliver) -> None:
    """Every email the sink accepts is handed on (in a thread: never inside its reply)."""

    def hook(mail) -> None:
        threading.Thread(target=deliver, args=(mail.data,), daemon=True).start()

    sink.on_accept(hook)


def b_env(tmp_path, ingress_port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "POSTROOM_"))}
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "b")
    env["POSTROOM_INGRESS_BIND"] = f"127.0.0.1:{ingress_port}"
    env["POSTROOM_INGRESS_LMTP_BIND"] = ""
    return env


def b_command(env, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "postroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def b_decisions(tmp_path) -> list[tuple[int, str]]:
    with sqlite3.connect(tmp_path / "b" / "postroom.sqlite3", timeout=10) as db:
        return db.execute("SELECT sent, reason FROM routing_autoreplylog").fetchall()


def test_two_auto_replying_mailboxes_send_one_auto_reply_and_no_loop(
    dovecot, mail_user, live_env, tmp_path
):
    with CapturingSMTPServer() as sink_a, CapturingSMTPServer() as sink_b:
        # Instance A: a mailbox on Dovecot that answers everything, always.
        box_a = do_add_mailbox(
            ConnectionSettings(
                address=mail_user.address, name="Sales", imap_host=dovecot.host,
                imap_port=dovecot.imap_port, imap_security="none",
                username=mail_user.username, password=mail_user.password,
                smtp_host=sink_a.host, smtp_port=sink_a.port, smtp_security="none",
            ),
            crm_rule="lead",
        )  # fmt: skip
        AutoReply.objects.create(
            mailbox=box_a, when=AutoReply.When.ALWAYS, body="Sales is closed; back soon."
        )
        # Instance B: a second installation with one mailbox behind its ingress.
        ingress_port = free_port()
        env = b_env(tmp_path, ingress_port)
        b_command(env, "migrate", "--noinput", "-v", "0")
        b_command(
            env, "mailbox", "add", B_ADDRESS, "--name", "Support", "--crm-rule", "lead",
            "--smtp-host", sink_b.host, "--smtp-port", str(sink_b.port),
            "--smtp-security", "none", "--ingress-only",
        )  # fmt: skip
        b_command(env, "autoreply", "set", B_ADDRESS, "--when", "always", "--body", "Thanks!")

        def to_b(raw: bytes) -> None:
            with smtplib.SMTP("127.0.0.1", ingress_port, timeout=10) as client:
                client.sendmail("", [B_ADDRESS], raw)

        def to_a(raw: bytes) -> None:
            dovecot.deliver(raw, to=mail_user.address, mail_from="")

        forward(sink_a, to_b)
        forward(sink_b, to_a)
        logs = tmp_path / "logs"
        logs.mkdir()
        with (
            running(["worker"], live_env, logs / "a-worker.log"),
            running(["ingress"], env, logs / "b-ingress.log"),
            running(["jobs"], env, logs / "b-jobs.log"),
        ):
            # One email starts it: B's address writes to A (as a person would).
            first = make_email(
                sender=f"Support <{B_ADDRESS}>", to=mail_user.address, subject="Order 17"
            )
            dovecot.deliver(first, to=mail_user.address, mail_from=B_ADDRESS)
            sink_a.wait_for(1, timeout=90)  # A answered B…
            wait_for(lambda: b_decisions(tmp_path), 90, "B to decide on A's auto-reply")
            time.sleep(WATCH)  # …and now nothing more may happen, in either direction
            a_sent, b_sent = len(sink_a.messages), len(sink_b.messages)
            a_decisions = list(AutoReplyLog.objects.values_list("sent", "reason"))
            b_seen = b_decisions(tmp_path)

    assert (a_sent, b_sent) == (1, 0), (a_sent, b_sent, a_decisions, b_seen)
    (reply,) = sink_a.messages
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert reply.rcpt_tos == [B_ADDRESS]
    assert a_decisions == [(True, "")]
    # B received A's auto-reply and said why it would not answer it.
    assert len(b_seen) == 1 and not b_seen[0][0]
    assert any(mark in b_seen[0][1] for mark in ("Postroom", "Auto-Submitted", "X-Loop"))
    assert OutboxMessage.objects.filter(kind=OutboxMessage.Kind.AUTO_REPLY).count() == 1
