"""idle: one `postroom sync --forever` watching 500 mailboxes that receive nothing.

What the worker costs when nothing happens: its memory (RSS and PSS) and its CPU share
of one core over a window, once every folder is leased and was synced once. The
Dovecot side (one IDLE connection per folder) is shown beside it.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .common import (
    Harness,
    Table,
    cpu_seconds,
    password,
    process_tree,
    pss_kb,
    say,
    status_kb,
    tree_total,
    wait_until,
)

THREADS = 8
GOAL_RSS_MB = 500
GOAL_CPU_PERCENT = 5


def sockets(pid: int) -> int:
    """Sockets the process holds open (its IMAP connections, mostly)."""
    fds = Path(f"/proc/{pid}/fd")
    return sum(os.readlink(fds / fd).startswith("socket:") for fd in os.listdir(fds))


def imap_users(harness: Harness) -> int:
    """Users with an IMAP session logged in at Dovecot now (`doveadm who`)."""
    who = subprocess.run(
        ["doveadm", "-c", str(harness.dovecot.conf_path), "who"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return len({line.split()[0] for line in who.stdout.splitlines()[1:] if " imap " in line})


def run(harness: Harness, table: Table) -> None:
    # Beside IDLE every folder is also polled (the safety net) every `poll` seconds: the
    # window is measured, then on to one whole poll cycle, which holds a poll of each.
    n, window, poll = (50, 5, 10) if harness.quick else (500, 30, 60)
    table.title = f"idle: one sync worker ({THREADS} threads) watching {n} idle mailboxes"
    users = {f"idle{i:04d}": password() for i in range(n)}
    say(f"idle: {n} Dovecot users and Postroom mailboxes")
    harness.dovecot.add_users(users, timeout=60)
    harness.add_mailboxes(users)

    say("idle: starting `postroom sync --forever`, waiting for every lease and first sync")
    env = {"POSTROOM_SYNC_THREADS": str(THREADS), "POSTROOM_POLL_INTERVAL": str(poll)}
    worker = harness.start(["sync", "--forever"], env)
    launched = time.perf_counter()
    dovecot = harness.dovecot.pid or 0
    db = harness.db()

    def last_synced() -> dict[int, object]:
        return dict(db.rows("SELECT id, last_synced_at FROM mailboxes_mailbox"))

    def quiet_for(seconds: float) -> Callable[[], bool]:
        """A condition: no mailbox was synced in the last `seconds`."""
        state = {"synced": last_synced(), "since": time.perf_counter()}

        def check() -> bool:
            if (now := last_synced()) != state["synced"]:
                state.update(synced=now, since=time.perf_counter())
            return time.perf_counter() - state["since"] >= seconds

        return check

    try:
        wait_until(
            lambda: (
                db.scalar("SELECT count(*) FROM sync_folderlease") >= n
                and db.scalar("SELECT count(*) FROM mailboxes_mailbox WHERE status = 'ok'") >= n
            ),
            240,
            f"all {n} folders to be leased and synced once",
            interval=0.25,
        )
        table.add("time until all leased and synced once", time.perf_counter() - launched, "s")
        # Idle means: every folder has its IDLE session, and nothing synced for 2 s.
        wait_until(lambda: imap_users(harness) >= n, 120, f"{n} IDLE sessions", interval=0.5)
        table.add(
            f"time until all {n} IDLE sessions logged in", time.perf_counter() - launched, "s"
        )
        wait_until(quiet_for(2), 60, "the worker to go quiet", interval=0.25)
        say(f"idle: measuring {window} s, then on to {poll} s")

        synced = last_synced()
        cpu = {pid: tree_total(pid, cpu_seconds) for pid in (worker.pid, dovecot)}
        started = time.perf_counter()
        rss = pss = 0.0
        for end in (window, poll):
            while (elapsed := time.perf_counter() - started) < end:
                rss = max(rss, tree_total(worker.pid, lambda pid: status_kb(pid, "VmRSS")))
                pss = max(pss, tree_total(worker.pid, pss_kb))
                time.sleep(1)
            used = {pid: (tree_total(pid, cpu_seconds) - cpu[pid]) / elapsed for pid in cpu}
            polls = sum(at != synced[pk] for pk, at in last_synced().items())
            table.add(
                f"worker CPU, idle, {elapsed:.0f} s ({polls} of {n} folders polled)",
                used[worker.pid] * 100,
                "% of a core",
                baseline=used[dovecot] * 100,
                goal=f"< {GOAL_CPU_PERCENT} %",
                met=used[worker.pid] * 100 < GOAL_CPU_PERCENT,
            )
    finally:
        db.close()
    peak = tree_total(worker.pid, lambda pid: status_kb(pid, "VmHWM"))
    dovecot_pss = tree_total(dovecot, pss_kb)
    met = rss / 1024 < GOAL_RSS_MB
    table.add("worker RSS, idle (max)", rss / 1024, "MB", goal=f"< {GOAL_RSS_MB} MB", met=met)
    table.add("worker PSS, idle (max)", pss / 1024, "MB", baseline=dovecot_pss / 1024)
    table.add("worker peak RSS (VmHWM, with the first syncs)", peak / 1024, "MB")
    table.add("sockets held by the worker", sockets(worker.pid), "")
    table.add("Dovecot processes", len(process_tree(dovecot)), "")
    retries = harness.logs[worker.pid].read_text(errors="replace").count("reconnecting in")
    table.note(f"{retries} IDLE connections failed and were retried (see the worker's log)")
    table.note("baselines: Dovecot's own processes over the same time (its PSS, its CPU)")
