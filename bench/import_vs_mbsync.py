"""import: a first sync of N emails until every one is parsed, threaded, indexed and in
the CRM, beside mbsync copying the same folder from the same Dovecot into a maildir.

mbsync (Debian's isync, installed here with apt-get when missing) is what a mail
client's bare copy costs: IMAP fetch and a file per message, nothing read. Postroom's
figure is one `postroom sync ADDRESS --once` (it fetches, stores, then runs the jobs it
queued: record, parse, thread, index, CRM capture) as a subprocess, checked afterwards:
every email parsed, in a conversation, in the search index and on a CRM timeline. The
subprocess (bench.import_profile) times each step where the pipeline calls it, and the
table shows what each costs per email.

Each tool copies its own INBOX holding the same messages, so neither reads the other's
warmed cache alone; both are timed in the same run, under the same load (printed).
Goal: the whole import within 2x mbsync's copy time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from .common import Harness, Table, address, password, say
from .initial_sync import fill, make_messages

GOAL_RATIO = 2.0


def ensure_mbsync() -> str:
    """mbsync's path, installing Debian's isync when it is missing."""
    if found := shutil.which("mbsync"):
        return found
    say("import: installing isync (mbsync) with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "isync"], env=env, check=True, capture_output=True
    )
    found = shutil.which("mbsync")
    if not found:
        raise RuntimeError("isync installed but mbsync is not on PATH")
    return found


def mbsync_copy(harness: Harness, user: str, secret: str, *, fsync: bool) -> tuple[int, float]:
    """(files, seconds) of mbsync pulling INBOX into a fresh maildir; with `fsync`
    (mbsync's default) each message file is flushed to disk before the next."""
    maildir = harness.dir / "maildir"
    shutil.rmtree(maildir, ignore_errors=True)
    shutil.rmtree(harness.dir / "mbsync-state", ignore_errors=True)
    maildir.mkdir()
    config = harness.dir / "mbsyncrc"
    config.write_text(
        f"FSync {'yes' if fsync else 'no'}\n\nIMAPAccount bench\n"
        f"Host {harness.dovecot.host}\nPort {harness.dovecot.imap_port}\n"
        f'User {user}\nPass "{secret}"\nSSLType None\nAuthMechs LOGIN\n'
        # As many commands in flight as it likes: mbsync at its fastest.
        "PipelineDepth 50\n\n"
        "IMAPStore remote\nAccount bench\n\n"
        f"MaildirStore local\nPath {maildir}/\nInbox {maildir}/INBOX\n\n"
        "Channel copy\nFar :remote:\nNear :local:\nPatterns INBOX\nCreate Near\n"
        f"Sync Pull\nSyncState {harness.dir}/mbsync-state/\n"
    )
    config.chmod(0o600)
    (harness.dir / "mbsync-state").mkdir(exist_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [ensure_mbsync(), "-q", "-c", str(config), "copy"], capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"mbsync exited with {done.returncode}: {done.stderr[-2000:]}")
    inbox = Path(maildir, "INBOX")
    files = sum(len(os.listdir(inbox / sub)) for sub in ("new", "cur") if (inbox / sub).exists())
    return files, seconds


def run(harness: Harness, table: Table) -> None:
    n = 1_000 if harness.quick else 10_000
    table.title = f"import: first sync of {n:,} emails of ~10 KB, whole import against mbsync"
    ensure_mbsync()
    users = {"mbsync": password(), "postroom": password()}
    for user, secret in users.items():
        harness.dovecot.add_user(user, secret)
    messages = make_messages(n, address("postroom"))
    say(f"import: filling two INBOXes with {n:,} messages (MULTIAPPEND)")
    for user, secret in users.items():
        fill(harness, user, secret, messages)
    (mailbox,) = harness.add_mailboxes({"postroom": users["postroom"]})

    say("import: mbsync copies INBOX into a maildir (FSync no, then its default FSync yes)")
    load_before = os.getloadavg()[0]
    copies = {}
    for fsync in (False, True):
        files, copies[fsync] = mbsync_copy(harness, "mbsync", users["mbsync"], fsync=fsync)
        assert files == n, f"mbsync copied {files} of {n}"
    table.add("mbsync: INBOX into a maildir, FSync yes (its default)", copies[True], "s")
    table.add("mbsync: INBOX into a maildir, FSync no", copies[False], "s")
    # The faster copy is the baseline: the stricter goal.
    mbsync_seconds = min(copies.values())
    table.add("  rate", n / mbsync_seconds, "msg/s")

    say("import: postroom sync --once (fetch, store, record, parse, thread, index, capture)")
    profile = harness.dir / "import-profile.json"
    sync = harness.check([mailbox, str(profile)], module="bench.import_profile")
    load_after = os.getloadavg()[0]
    steps = json.loads(profile.read_text())
    db = harness.db()
    try:
        parsed = db.scalar("SELECT count(*) FROM mail_message WHERE status = 'parsed'")
        quarantined = db.scalar("SELECT count(*) FROM mail_message WHERE status = 'quarantined'")
        threaded = db.scalar("SELECT count(DISTINCT message_id) FROM mail_conversationmessage")
        conversations = db.scalar("SELECT count(*) FROM mail_conversation")
        indexed = db.scalar("SELECT count(*) FROM mail_search")
        on_timeline = db.scalar("SELECT count(DISTINCT message_id) FROM crm_activity")
        leads = db.scalar("SELECT count(*) FROM crm_lead")
    finally:
        db.close()
    for what, count in (
        ("parsed", parsed),
        ("threaded", threaded),
        ("indexed", indexed),
        ("in the CRM", on_timeline),
    ):
        assert count == n, f"{count} of {n} emails {what} after the import"
    table.add(
        "postroom: whole import (`sync --once`) vs mbsync",
        sync.seconds,
        "s",
        baseline=mbsync_seconds,
        goal=f"<= {GOAL_RATIO:.2f}x",
        met=sync.seconds <= GOAL_RATIO * mbsync_seconds,
    )
    table.add("  rate", n / sync.seconds, "msg/s")
    _breakdown(table, steps, n)
    table.add("  CPU time of the import (user + system)", sync.cpu_seconds, "s")
    table.add("  CPU time of its parsing processes", steps.get("workers_cpu", 0.0), "s")
    table.add("  peak RSS of the import", sync.max_rss_mb, "MB")
    table.note(
        f"{parsed:,} parsed, {quarantined} quarantined, {threaded:,} threaded into "
        f"{conversations:,} conversations, {indexed:,} indexed, {on_timeline:,} on CRM "
        f"timelines ({leads} leads)"
    )
    table.note(
        f"load average (1 min) {load_before:.2f} before mbsync, {load_after:.2f} after "
        f"the import, on {os.cpu_count()} CPUs"
    )


def _breakdown(table: Table, profile: dict, n: int) -> None:
    """What each step of the import costs per email (bench.import_profile's timers):
    the sync's fetch and store, then each job step; "ingest > ..." are parts of ingest."""
    total, steps = profile["total"], dict(profile["steps"])
    jobs = steps.pop("jobs")["seconds"]
    table.add("  per email: sync (IMAP fetch and store)", 1000 * (total - jobs) / n, "ms")
    outer = 0.0
    for step, spent in steps.items():
        if spent["calls"]:
            table.add(f"  per email: {step}", 1000 * spent["seconds"] / n, "ms")
        if not step.startswith("ingest > "):
            outer += spent["seconds"]
    table.add("  per email: the rest (job runner, commits)", 1000 * (jobs - outer) / n, "ms")
