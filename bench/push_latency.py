"""push: how soon mail delivered to the IMAP server is a Lead, through IDLE push.

Dovecot tells an idling client about new mail ~500 ms after it arrives (compiled in), so
a bare IDLE client on the same Dovecot, fed the same way, is measured first: its
LMTP-250-to-EXISTS latency is the floor no IMAP client can beat, and Postroom's p99
minus that floor is what Postroom itself adds (fetch, store, parse, capture).
"""

from __future__ import annotations

import re
import socket
import threading
import time

from .common import (
    Harness,
    Sender,
    Table,
    address,
    lead_latencies,
    password,
    percentile,
    say,
    send_paced,
    wait_until,
    warm_up,
)

SPACING = 0.05  # seconds between deliveries: a steady 20 emails/s
GOAL_P99_MS = 1000
_EXISTS = re.compile(rb"\* (\d+) EXISTS")


class IdleWatcher:
    """A bare IMAP client idling on INBOX over a raw socket; notes when each EXISTS comes."""

    def __init__(self, host: str, port: int, user: str, secret: str) -> None:
        self.sock = socket.create_connection((host, port), timeout=10)
        self.reader = self.sock.makefile("rb")
        self.reader.readline()  # greeting
        self._command(b'a LOGIN "%s" "%s"' % (user.encode(), secret.encode()))
        selected = b"".join(self._command(b"b SELECT INBOX"))
        self.initial = max((int(n) for n in _EXISTS.findall(selected)), default=0)
        self.events: list[tuple[float, int]] = []  # (when, message count)
        self.sock.sendall(b"c IDLE\r\n")
        if not self.reader.readline().startswith(b"+"):
            raise RuntimeError("the server did not start IDLE")
        self.sock.settimeout(None)
        self._thread = threading.Thread(target=self._listen, name="bare-idle", daemon=True)
        self._thread.start()

    def _command(self, line: bytes) -> list[bytes]:
        tag = line.split(b" ", 1)[0] + b" "
        self.sock.sendall(line + b"\r\n")
        lines = []
        while not (response := self.reader.readline()).startswith(tag):
            if not response:
                raise ConnectionError("the server closed the connection")
            lines.append(response)
        if not response.startswith(tag + b"OK"):
            raise RuntimeError(f"{line.split()[1].decode()} failed: {response!r}")
        return lines

    def _listen(self) -> None:
        for line in self.reader:
            if match := _EXISTS.match(line):
                self.events.append((time.perf_counter(), int(match[1])))

    @property
    def count(self) -> int:
        return self.events[-1][1] if self.events else self.initial

    def reached(self, count: int) -> float:
        """When the server first announced at least `count` messages."""
        return next(at for at, n in self.events if n >= count)

    def close(self) -> None:
        try:
            self.sock.sendall(b"DONE\r\nd LOGOUT\r\n")
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(2)


def bare_idle_latencies(harness: Harness, count: int) -> list[float]:
    """LMTP 250 -> `* N EXISTS` on a bare IDLE client: Dovecot's own floor."""
    dc = harness.dovecot
    user, secret = "floor", password()
    dc.add_user(user, secret)
    idle = IdleWatcher(dc.host, dc.imap_port, user, secret)
    try:
        with Sender(dc.lmtp_port, address(user), lmtp=True) as lmtp:
            sent = list(send_paced(lmtp, address(user), count, SPACING, "floor").values())
        wait_until(lambda: idle.count >= idle.initial + count, 30, "EXISTS of every delivery")
        return [idle.reached(idle.initial + i + 1) - at for i, at in enumerate(sent)]
    finally:
        idle.close()


def run(harness: Harness, table: Table) -> None:
    count = 20 if harness.quick else 200
    table.title = (
        f"push: IDLE push, LMTP 250 -> Lead committed ({count} deliveries "
        f"{SPACING * 1000:.0f} ms apart, one mailbox)"
    )
    say(f"push: bare IDLE client, {count} deliveries")
    floor = bare_idle_latencies(harness, count)

    user, secret = "sales", password()
    harness.dovecot.add_user(user, secret)
    (mailbox,) = harness.add_mailboxes({user: secret})
    say("push: starting `postroom worker` (POSTROOM_POLL_INTERVAL=300: only push is fast)")
    harness.start(["worker"], {"POSTROOM_POLL_INTERVAL": "300"})
    db = harness.db()
    try:
        ready = wait_until(
            lambda: (
                db.scalar("SELECT count(*) FROM sync_folderlease")
                and db.scalar("SELECT count(*) FROM mailboxes_mailbox WHERE status = 'ok'")
            ),
            60,
            "the worker to lease the folder and sync it once",
        )
    finally:
        db.close()
    with Sender(harness.dovecot.lmtp_port, mailbox, lmtp=True) as lmtp:
        warm_up(harness, lmtp, mailbox)
        say(f"push: Postroom, {count} deliveries")
        latencies, missing = lead_latencies(harness, lmtp, mailbox, count, SPACING, "push")

    table.latency("bare IDLE client, 250 -> EXISTS (floor)", floor)
    table.latency("Postroom, 250 -> Lead", latencies, floor, goal_p99_ms=GOAL_P99_MS)
    table.add(
        "Postroom p99 above the floor's p99",
        (percentile(latencies, 99) - percentile(floor, 99)) * 1000,
        "ms",
    )
    table.note(f"worker held the lease and had synced {ready:.1f} s after it started")
    table.note(f"{missing} of {count} emails had no Lead after 60 s" if missing else "no misses")
