"""outbox: Outbox emails delivered to a local SMTP server by 1 and by 4 job runners.

1,000 emails (100 with --quick) are written to the Outbox through `do_send_email`, as
the compose form does, with their delivery jobs; then 1 (and, for the second round, 4)
`postroom jobs` processes deliver them to an aiosmtpd server in this process and file
each sent email (Message, conversation, search index, CRM). Measured: emails per second
from the first 250 to the last, and from the runners' start to the last email filed;
each Message-ID received exactly once; the runners' peak memory (VmHWM).

The mailbox has no IMAP (no Sent-folder append: that is the IMAP server's speed, not
the Outbox's), no undo window and no rate limit. Run as a module, `fill` writes the
emails in the benchmark's database: `python -m bench.outbox_throughput fill N TAG PORT`.
"""

from __future__ import annotations

import sys
import time
from collections import Counter

from postroom.testing.smtp import CapturingSMTPServer

from .common import BenchTimeout, Harness, Table, say, status_kb, wait_until

GOAL_PER_SECOND = 50  # with 4 senders
MAILBOX = "outbox-bench@acme.test"
# Quotas and limits that would make emails wait are out of the way; no undo window.
ENV = {
    "POSTROOM_UNDO_SEND_SECONDS": "0",
    "POSTROOM_MAILBOX_RATE_PER_MINUTE": "0",
    "POSTROOM_MONTHLY_QUOTA": "100000000",
    "POSTROOM_LOG_LEVEL": "WARNING",
}


def _round(harness: Harness, table: Table, smtp: CapturingSMTPServer, n: int, workers: int):
    tag = f"w{workers}"
    smtp.clear()
    say(f"outbox: writing {n} emails to the Outbox ({tag})")
    fill = harness.run(["fill", str(n), tag, str(smtp.port)], ENV, module="bench.outbox_throughput")
    if fill.returncode != 0:
        raise RuntimeError(f"filling the Outbox failed (log in {harness.dir})")
    db = harness.db()
    say(f"outbox: {workers} `postroom jobs` delivering")
    started = time.perf_counter()
    procs = [harness.start(["jobs"], ENV) for _ in range(workers)]
    first = last = None
    deadline = started + (60 if harness.quick else 240)
    while True:
        count = len(smtp.messages)
        now = time.perf_counter()
        if count and first is None:
            first = now
        if count >= n:
            last = now
            break
        if now > deadline:
            raise BenchTimeout(f"{count} of {n} emails arrived within {deadline - started:.0f} s")
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise RuntimeError(f"a job runner exited with {dead[0].returncode}")
        time.sleep(0.005)

    rate = (n - 1) / (last - first) if last > first else float("inf")
    met = rate >= GOAL_PER_SECOND if workers == 4 else None
    goal = f">= {GOAL_PER_SECOND}/s" if workers == 4 else ""
    table.add(f"{workers} sender(s): delivered, first to last 250", rate, "emails/s", goal=goal,
              met=met)  # fmt: skip

    # Filing each sent email (Message, conversation, search, CRM) runs below deliveries;
    # waited for within a bound, so that the next round starts on a quiet queue.
    def unfiled() -> int:
        return db.scalar(
            "SELECT COUNT(*) FROM outbound_outboxmessage WHERE subject LIKE ? "
            "AND (status <> 'sent' OR stored_message_id IS NULL)",
            f"Bench {tag} %",
        )

    try:
        wait_until(lambda: unfiled() == 0, 60 if harness.quick else 150, "filing", 0.05)
    except BenchTimeout:
        table.note(f"{workers} sender(s): {unfiled()} of {n} not filed yet when the round ended")
    else:
        done = time.perf_counter()
        table.add(
            f"{workers} sender(s): runners' start to all filed", n / (done - started), "emails/s"
        )
    # Counted after filing too: a duplicate would come from a retry, after the burst.
    mails = smtp.messages
    ids = Counter(mail.message["Message-ID"] for mail in mails)
    twice = sum(1 for count in ids.values() if count > 1)
    table.add(f"{workers} sender(s): Message-IDs received twice", twice, "", goal="0",
              met=twice == 0)  # fmt: skip
    table.note(
        f"{workers} sender(s): {len(mails)} emails received, {len(ids)} distinct Message-IDs, "
        f"the first {first - started:.1f} s after the runners started"
    )
    peak_mb = [status_kb(p.pid, "VmHWM") / 1024 for p in procs]
    table.add(f"{workers} sender(s): peak memory per runner (max)", max(peak_mb), "MB")
    for proc in procs:
        harness.stop(proc)
    db.close()
    return rate


def run(harness: Harness, table: Table) -> None:
    n = 100 if harness.quick else 1000
    table.title = f"outbox: {n} Outbox emails to a local aiosmtpd, 1 and 4 job runners"
    with CapturingSMTPServer() as smtp:
        for workers in (1, 4):
            _round(harness, table, smtp, n, workers)


# ----------------------------------------------------------------------- fill


def fill(n: int, tag: str, port: int) -> None:
    """Write `n` emails to the Outbox, each with its job, in batches of 100."""
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox, do_grant_mailbox
    from postroom.mailboxes.models import Mailbox, MailboxGrant
    from postroom.outbound.actions import Composition, do_send_email

    mailbox = Mailbox.objects.filter(address=MAILBOX).first()
    if mailbox is None:
        conn = ConnectionSettings(
            address=MAILBOX,
            name="Bench",
            imap_host="",
            imap_port=None,
            imap_security="",
            username="",
            password="",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
        )
        mailbox = do_add_mailbox(conn, crm_rule="none")
    Mailbox.objects.filter(pk=mailbox.pk).update(smtp_port=port)
    mailbox.refresh_from_db()
    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"first_name": "B"})
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.REPLY)
    body = "<div>Dear customer,</div><div>here is the offer we talked about.</div>" * 5
    for start in range(0, n, 100):
        with transaction.atomic():
            for i in range(start, min(n, start + 100)):
                do_send_email(
                    mailbox,
                    Composition(
                        to=[f"client{i}@customer{i % 50}.test"],
                        subject=f"Bench {tag} {i}",
                        html=body,
                    ),
                    acting_user=user,
                )


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "fill":
        sys.exit("usage: python -m bench.outbox_throughput fill N TAG SMTP_PORT")
    fill(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
