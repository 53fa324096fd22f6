"""ingress: mail handed to `postroom ingress` by SMTP, from the 250 after DATA to its Lead.

The ingress answers 250 only once the raw message is committed, so the SMTP transaction
itself is timed too, beside Dovecot's LMTP delivery of the same mail (the baseline of
"accept and store"); the Lead then comes from `postroom jobs`.
"""

from __future__ import annotations

import socket

from postroom.testing.dovecot import free_port

from .common import (
    HOST,
    Harness,
    Sender,
    Table,
    address,
    lead_latencies,
    password,
    say,
    send_paced,
    wait_until,
    warm_up,
)

SPACING = 0.05
GOAL_P99_MS = 200


def _greets(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def run(harness: Harness, table: Table) -> None:
    count = 20 if harness.quick else 200
    table.title = (
        f"ingress: SMTP to `postroom ingress`, 250 -> Lead committed ({count} emails "
        f"{SPACING * 1000:.0f} ms apart)"
    )
    if harness.run(["help", "ingress"]).returncode != 0:
        table.note("skipped: postroom ingress not available")
        return

    dc = harness.dovecot
    users = {"sales": password(), "lmtp": password()}
    dc.add_users(users)
    say(f"ingress: baseline, {count} LMTP deliveries to Dovecot")
    with Sender(dc.lmtp_port, address("lmtp"), lmtp=True) as lmtp:
        send_paced(lmtp, address("lmtp"), count, SPACING, "lmtp")
    (mailbox,) = harness.add_mailboxes({"sales": users["sales"]})

    port = free_port()
    say(f"ingress: starting `postroom ingress` on {HOST}:{port} and `postroom jobs`")
    harness.start(["ingress"], {"POSTROOM_INGRESS_BIND": f"{HOST}:{port}"})
    harness.start(["jobs"])
    ready = wait_until(lambda: _greets(port), 60, "the ingress to greet")
    with Sender(port, mailbox) as smtp:
        warm_up(harness, smtp, mailbox)
        smtp.durations.clear()
        say(f"ingress: {count} emails by SMTP")
        latencies, missing = lead_latencies(harness, smtp, mailbox, count, SPACING, "ingress")

    table.latency(
        "SMTP transaction, MAIL FROM -> 250 (vs Dovecot LMTP)", smtp.durations, lmtp.durations
    )
    table.latency("250 -> Lead", latencies, goal_p99_ms=GOAL_P99_MS)
    table.note(f"the ingress greeted {ready:.1f} s after it started")
    table.note(f"{missing} of {count} emails had no Lead after 60 s" if missing else "no misses")
