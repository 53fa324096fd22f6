"""initial: connecting a mailbox that already holds N messages of ~10 KB.

Baseline: a bare imaplib loop of `UID FETCH a:b (BODY.PEEK[])` in chunks of 500 over the
same folder, the better of two runs. Postroom: `postroom sync ADDRESS --once --no-jobs`
(fetch and store only: until every raw message is durable, recorded or staged for the
`record` job) as a subprocess, timed, its peak RSS from wait4(), the better of the first
syncs of two mailboxes holding the same messages; then `postroom db_worker --batch`
records, parses and captures what was stored, beside a bare `email` parse.
"""

from __future__ import annotations

import email
import email.policy
import imaplib
import json
import random
import re
import socket
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor

from postroom.testing.mail import make_email

from .common import Harness, Table, address, password, say, wait_until

CHUNK = 500
GOAL_RATIO = 0.5
GOAL_RSS_MB = 300
_VOCABULARY = (
    "order invoice delivery price quote please kindly regards thanks meeting contract "
    "shipment pallet warehouse schedule discount payment account update request support"
)


def make_messages(count: int, to: str) -> list[bytes]:
    """`count` distinct ~10 KB emails from 100 senders, with CRLF line ends for APPEND."""
    rng, words = random.Random(4), _VOCABULARY.split()
    filler = textwrap.fill(" ".join(rng.choice(words) for _ in range(1400)), 72)
    messages = []
    for i in range(count):
        sender = f"client{i % 100}@customer{i % 100}.test"
        raw = make_email(
            sender=f"Client {i % 100} <{sender}>",
            to=to,
            subject=f"Order {i}",
            body=f"Message {i} of {count}.\n\n{filler}\n",
        )
        messages.append(re.sub(rb"\r?\n", b"\r\n", raw))
    return messages


def multiappend(port: int, user: str, secret: str, messages: list[bytes]) -> None:
    """APPEND with MULTIAPPEND and LITERAL+ (not in imaplib): CHUNK messages a command."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        reader = sock.makefile("rb")

        def expect_ok(tag: bytes) -> None:
            while not (line := reader.readline()).startswith(tag + b" "):
                if not line:
                    raise ConnectionError("the server closed the connection")
            if not line.startswith(tag + b" OK"):
                raise RuntimeError(f"IMAP {tag.decode()} failed: {line!r}")

        reader.readline()  # greeting
        sock.sendall(b'a LOGIN "%s" "%s"\r\n' % (user.encode(), secret.encode()))
        expect_ok(b"a")
        for n, start in enumerate(range(0, len(messages), CHUNK)):
            tag = b"m%d" % n
            literals = b"".join(
                b" {%d+}\r\n%s" % (len(raw), raw) for raw in messages[start : start + CHUNK]
            )
            sock.sendall(tag + b" APPEND INBOX" + literals + b"\r\n")
            expect_ok(tag)


def fill(harness: Harness, user: str, secret: str, messages: list[bytes], conns: int = 2) -> float:
    """Fill INBOX over `conns` parallel connections; return the seconds it took."""
    started = time.perf_counter()
    with ThreadPoolExecutor(conns) as pool:
        parts = [messages[i::conns] for i in range(conns)]
        port = harness.dovecot.imap_port
        list(pool.map(lambda part: multiappend(port, user, secret, part), parts))
    return time.perf_counter() - started


def bare_fetch(harness: Harness, user: str, secret: str) -> tuple[int, float]:
    """(messages, seconds) of UID FETCH BODY.PEEK[] over the whole folder in chunks."""
    conn = imaplib.IMAP4(harness.dovecot.host, harness.dovecot.imap_port, timeout=60)
    try:
        conn.login(user, secret)
        conn.select("INBOX", readonly=True)
        started = time.perf_counter()
        uids = conn.uid("SEARCH", "ALL")[1][0].split()
        fetched = 0
        for i in range(0, len(uids), CHUNK):
            chunk = uids[i : i + CHUNK]
            _, data = conn.uid("FETCH", b"%s:%s" % (chunk[0], chunk[-1]), "(BODY.PEEK[])")
            fetched += sum(isinstance(item, tuple) for item in data)
        return fetched, time.perf_counter() - started
    finally:
        conn.logout()


def bare_parse_rate(messages: list[bytes]) -> float:
    """Messages/s of the standard library parsing each and reading its text body."""
    started = time.perf_counter()
    for raw in messages:
        body = email.message_from_bytes(raw, policy=email.policy.default).get_body()
        if body is not None:
            body.get_content()
    return len(messages) / (time.perf_counter() - started)


def run(harness: Harness, table: Table) -> None:
    n = 1_000 if harness.quick else 10_000
    table.title = f"initial: first sync of a folder of {n:,} messages of ~10 KB"
    # Two users with the same messages: the first sync of each is timed and the better
    # counts, as the better of two runs of the bare loop does.
    users = {"bulk": password(), "bulk2": password()}
    for user, secret in users.items():
        harness.dovecot.add_user(user, secret)
    messages = make_messages(n, address("bulk"))
    size_kb = sum(map(len, messages)) / n / 1024
    say(f"initial: filling two INBOXes with {n:,} messages of {size_kb:.1f} KB (MULTIAPPEND)")
    rate = n / fill(harness, "bulk", users["bulk"], messages)
    table.add("fill (MULTIAPPEND, 2 connections)", rate, "msg/s")
    fill(harness, "bulk2", users["bulk2"], messages)

    say("initial: bare imaplib UID FETCH, twice (the better counts)")
    bare_rate = 0.0
    for _ in range(2):
        fetched, seconds = bare_fetch(harness, "bulk", users["bulk"])
        assert fetched == n, f"the bare client fetched {fetched} of {n}"
        bare_rate = max(bare_rate, n / seconds)
    table.add("bare imaplib UID FETCH, chunks of 500", bare_rate, "msg/s")

    mailboxes = harness.add_mailboxes(users)
    say("initial: postroom sync --once --no-jobs, a first sync of each mailbox")
    runs = []
    for mailbox in mailboxes:
        sync = harness.check(["sync", mailbox, "--once", "--no-jobs"])
        # Nothing new the second time: what is left is start-up, login, SELECT, SEARCH.
        again = harness.check(["sync", mailbox, "--once", "--no-jobs"])
        runs.append((sync.seconds - again.seconds, sync, again))
    stage, sync, again = min(runs, key=lambda run: run[0])
    db = harness.db()
    try:
        # Durably stored: recorded as copies, or staged in fetched batches to be recorded.
        staged = sum(
            len(json.loads(entries) if isinstance(entries, str) else entries)
            for (entries,) in db.rows("SELECT entries FROM mail_fetchedbatch")
        )
        stored = db.scalar("SELECT count(*) FROM mail_messagecopy") + staged
        table.add("`sync --once --no-jobs`, whole command", sync.seconds, "s")
        table.add("  of which start-up (a run with nothing new)", again.seconds, "s")
        table.add(
            "`sync --once`, whole command, rate", n / sync.seconds, "msg/s", baseline=bare_rate
        )
        for number, (seconds, *_) in enumerate(runs, 1):
            table.add(f"  fetch-and-store, mailbox {number}", n / seconds, "msg/s")
        table.add(
            "fetch-and-store rate (without start-up, better of 2)",
            n / stage,
            "msg/s",
            baseline=bare_rate,
            goal=f">= {GOAL_RATIO:.2f}x",
            met=n / stage >= GOAL_RATIO * bare_rate,
        )
        table.add(
            "`sync --once` peak RSS",
            max(run[1].max_rss_mb for run in runs),
            "MB",
            goal=f"< {GOAL_RSS_MB} MB",
            met=max(run[1].max_rss_mb for run in runs) < GOAL_RSS_MB,
        )
        table.add("`sync --once` CPU time (user + system)", sync.cpu_seconds, "s")
        say("initial: postroom db_worker --batch (parse, thread, capture)")
        worker = harness.start(["db_worker", "--batch", "--no-startup-delay", "--interval", "0.05"])
        started = time.perf_counter()
        done = ("SELECT count(*) FROM mail_message WHERE status IN ('parsed', 'quarantined')",)
        parsed_after = wait_until(
            lambda: db.scalar(*done) >= n or worker.poll() is not None,
            300,
            "every message to be parsed",
            interval=0.1,
        )
        finished = harness.reap(worker)
        assert finished is not None
        parsed = db.scalar(*done)
        leads = db.scalar("SELECT count(*) FROM crm_lead")
        activities = db.scalar("SELECT count(*) FROM crm_activity")
    finally:
        db.close()
    all_jobs = time.perf_counter() - started
    bare_parse = bare_parse_rate(messages[:2000])
    table.add("parsed: time until all were", parsed_after, "s")
    table.add(
        "parse rate (vs bare email.message_from_bytes)",
        parsed / parsed_after,
        "msg/s",
        baseline=bare_parse,
    )
    table.add("all jobs done (parse, thread, CRM capture)", all_jobs, "s")
    table.add("  rate", n / all_jobs, "msg/s")
    table.add("`db_worker --batch` peak RSS", finished.max_rss_mb, "MB")
    table.note(
        f"{stored:,} stored ({staged:,} of them staged for the record job), {parsed:,} "
        f"parsed, {leads} leads and {activities:,} activities; db_worker exited with "
        f"{finished.returncode}"
    )
    table.note("the bare fetch and parse ran in this process; times include no start-up")
