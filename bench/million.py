"""A million messages on PostgreSQL: list, timeline and search latency, bytes per
message, and a retention sweep of 300,000 expiring messages beside the web.

    python -m bench.million                         # uses (or first fills) postroom_bench1m
    python -m bench.million --regenerate            # fills it again from nothing
    python -m bench.million --skip-sweep            # the read figures only
    python -m bench million --deadline 3600         # the same, through the bench runner

The data is generated once, in SQL (INSERT ... SELECT over generate_series, with the
secondary indexes and foreign keys dropped during the load and built again after), into
a database that is kept: postroom_bench1m on the server of --database-url. Later runs
reuse it and print how long the generation took then. It holds 200 shared mailboxes of
5,000 emails each (1,000,000 messages, raw bytes in the database: a multipart text+HTML
email of ~60-120 words from a Zipf vocabulary), threaded three to a conversation
(333,400 conversations), 100,000 contacts (their address is the sender; a few big
customers write a lot: contact = 100,000 x u^2), 40% of conversations on the sender's
timeline (an Activity and a TimelineEntry per email), a search entry per message.
Mailboxes box0..box79 hold the expiring mail: three conversations in four there are
on no CRM item and older than 35 days, 299,999 emails.

Measured, as a user who reads half of the mailboxes (and an administrator for the
inbox), in-process through the views with their templates:
- inbox list page (Mine, Unassigned, All open, Closed; half within one mailbox), goal
  p95 < 50 ms;
- a CRM item's timeline: the contact page of a sender drawn like the mail (big
  customers with thousands of emails included), goal p95 < 50 ms;
- search page: 1-2 words, common to rare, goal p95 < 300 ms;
- database bytes per message: the database's size over its messages, and per table;
- the retention sweep, on a copy of the database (CREATE DATABASE ... TEMPLATE), so the
  kept one never changes: mailboxes box0..box79 get 30 days, a manual run removes what
  its dry run planned (as `postroom retention` does, one process), while a second
  process requests the inbox and contact pages in a loop; its p99 during the sweep is
  compared with its p99 on the idle copy just before (goal: < 2x). Messages/s is the
  run's copies over its wall time.
"""

# ruff: noqa: S608, E501 - the SQL is built from this module's constants; long SQL lines read better whole
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.search_bench import COMMON, SYLLABLES, peak_rss_mb, percentile, say, timer

REPO = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/postroom_bench1m"
MAILBOXES = 200
# Smaller sizes for a smoke run into another database (the kept one has the full set).
PER_MAILBOX = int(os.environ.get("BENCH_MILLION_PER_MAILBOX", "5000"))
CONTACTS = int(os.environ.get("BENCH_MILLION_CONTACTS", "100000"))
EXPIRING_MAILBOXES = 80
PEOPLE = 10
INBOX_GOAL_MS = TIMELINE_GOAL_MS = 50.0
SEARCH_GOAL_MS = 300.0
VIEWS = ["mine", "unassigned", "open", "closed"]


@dataclass(frozen=True)
class Options:
    database_url: str
    regenerate: bool
    skip_sweep: bool
    skip_reads: bool
    sweep_seconds: float
    runs: int
    role: str  # "" (the benchmark), "sweep" or "probe" (its child processes)
    seconds: float
    stop_file: str


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.million", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default=os.environ.get("BENCH_MILLION_URL", DEFAULT_URL))
    parser.add_argument(
        "--regenerate", action="store_true", help="drop and generate the data again"
    )
    parser.add_argument("--skip-sweep", action="store_true", help="the read figures only")
    parser.add_argument("--skip-reads", action="store_true", help="the sweep only")
    parser.add_argument(
        "--sweep-seconds", type=float, default=3600, help="stop the sweep after this long"
    )
    parser.add_argument("--runs", type=int, default=100, help="requests per measured kind")
    parser.add_argument(
        "--role", default="", choices=["", "sweep", "probe"], help=argparse.SUPPRESS
    )
    parser.add_argument("--seconds", type=float, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--stop-file", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a postgres:// URL: this benchmark is PostgreSQL's")
    return Options(
        database_url=args.database_url,
        regenerate=args.regenerate,
        skip_sweep=args.skip_sweep,
        skip_reads=args.skip_reads,
        sweep_seconds=args.sweep_seconds,
        runs=args.runs,
        role=args.role,
        seconds=args.seconds,
        stop_file=args.stop_file,
    )


# ----------------------------------------------------------------------- the database


def _split(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def _with_name(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _server(url: str, *statements: str) -> None:
    import psycopg

    admin, _ = _split(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _exists(url: str) -> bool:
    import psycopg

    admin, name = _split(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


def _generated(url: str) -> dict | None:
    """The generation's record, when the kept database holds the whole data set."""
    import psycopg

    if not _exists(url):
        return None
    with psycopg.connect(url, autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass('bench_million_meta')").fetchone()[0]
        if not found:
            return None
        row = conn.execute("SELECT facts FROM bench_million_meta").fetchone()
        return row[0] if row else None


def set_up_django(url: str) -> None:
    data_dir = Path(os.environ.get("POSTROOM_DATA_DIR") or REPO / "var" / "bench") / "million"
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["POSTROOM_DATA_DIR"] = str(data_dir.resolve())
    os.environ.setdefault("POSTROOM_LOG_LEVEL", "WARNING")
    os.environ["POSTROOM_RAW_STORE"] = "db"  # PostgreSQL's default: the bytes in rows
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# ----------------------------------------------------------------------- generation

# The tables filled in bulk: their secondary indexes and foreign keys are dropped for
# the load and built again after it (one sort per index instead of a million inserts).
BULK_TABLES = [
    "crm_contact",
    "crm_contactemail",
    "mail_rawmessage",
    "mail_message",
    "mail_messagecopy",
    "mail_conversation",
    "mail_conversationmessage",
    "crm_activity",
    "crm_timelineentry",
    "mail_search",
]


def _vocabulary(rng: random.Random, tail: int = 6000) -> list[str]:
    seen, made = set(COMMON), []
    while len(made) < tail:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            made.append(word)
    return COMMON + made


def _exec(cursor, sql: str, params: list | None = None, what: str = "") -> None:
    started = time.perf_counter()
    if params:
        cursor.execute(sql, params)
    else:  # no placeholders: a % in the SQL is PostgreSQL's modulo
        cursor.execute(sql)
    if what:
        say(f"  {what}: {time.perf_counter() - started:.1f} s")


def _drop_secondary(cursor) -> list[str]:
    """Drop the bulk tables' foreign keys, unique constraints and plain indexes; return
    the statements that make them again."""
    again: list[str] = []
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid::regclass::text = ANY(%s) AND contype IN ('f', 'u')",
        [BULK_TABLES],
    )
    for table, name, definition in cursor.fetchall():
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        again.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    cursor.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "WHERE i.indrelid::regclass::text = ANY(%s) AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        [BULK_TABLES],
    )
    for name, definition in cursor.fetchall():
        cursor.execute(f"DROP INDEX {name}")
        again.insert(0, definition)  # indexes before the constraints that may use them
    return again


def _texts(cursor, vocabulary: list[str], count: int, rng: random.Random) -> None:
    """bench_text(k, subject, body): the words of email k (and conversation k's subject),
    drawn from the vocabulary with Zipf frequencies in Python and COPYed in: PostgreSQL
    indexes a text array in linear time, which made drawing them in SQL take hours."""
    cumulative, total = [], 0.0
    for rank in range(1, len(vocabulary) + 1):
        total += 1 / rank
        cumulative.append(total)
    started = time.perf_counter()
    cursor.execute(
        "CREATE UNLOGGED TABLE bench_text (k bigint PRIMARY KEY, subject text, body text)"
    )
    choices = rng.choices
    with cursor.cursor.copy("COPY bench_text (k, subject, body) FROM STDIN") as copy:
        for k in range(1, count + 1):
            words = choices(vocabulary, cum_weights=cumulative, k=62 + k * 7 % 60)
            copy.write_row((k, " ".join(words[: 2 + k % 5]).capitalize(), " ".join(words[2:])))
    say(f"  words (Python, COPY): {time.perf_counter() - started:.1f} s")


def generate(url: str) -> dict:
    """Fill a fresh database; returns the facts stored beside the data."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from postroom.crm.models import Contact
    from postroom.lib.secretbox import encrypt
    from postroom.mailboxes.models import Folder, Mailbox, MailboxGrant
    from postroom.retention.rules import do_set_organisation_days

    started = time.perf_counter()
    rng = random.Random(1)
    user_model = get_user_model()
    # No passwords: the views are called in-process, and hashing costs seconds.
    user = user_model.objects.create_user("bench", "bench@acme.test", first_name="Bench")
    user_model.objects.create_user("root", "root@acme.test", is_superuser=True)
    people = [user] + [
        user_model.objects.create_user(f"agent{i}", f"agent{i}@acme.test", first_name=f"Agent{i}")
        for i in range(PEOPLE - 1)
    ]
    password = encrypt(settings.SECRET_KEY, "secret")
    for b in range(MAILBOXES):
        mailbox = Mailbox.objects.create(
            address=f"box{b}@acme.test",
            name=f"Box {b:03d}",
            imap_host="127.0.0.1",
            imap_port=143,
            imap_security="none",
            username=f"box{b}@acme.test",
            password_encrypted=password,
        )
        assert mailbox.pk == b + 1, "a fresh database numbers mailboxes from 1"
        folder = Folder.objects.create(mailbox=mailbox, name="INBOX", role="inbox")
        assert folder.pk == b + 1
        MailboxGrant.objects.bulk_create(
            MailboxGrant(mailbox=mailbox, user=p, level=MailboxGrant.Level.REPLY)
            for p in people
            if p is not user or b % 2 == 0
        )
    # Retention waits for the sweep's copy: the kept data must not expire as it ages.
    do_set_organisation_days(None)
    contact_ct = ContentType.objects.get_for_model(Contact).pk
    person_ids = [p.pk for p in people]
    vocabulary = _vocabulary(rng)
    n_messages = MAILBOXES * PER_MAILBOX
    n_conversations = MAILBOXES * ((PER_MAILBOX + 2) // 3)
    say(
        f"generating {n_messages:,} messages, {n_conversations:,} conversations, {CONTACTS:,} contacts"
    )
    with connection.cursor() as cursor:
        _exec(cursor, "SET synchronous_commit = off")
        _exec(cursor, "SET maintenance_work_mem = '512MB'")
        _exec(cursor, "SET work_mem = '128MB'")
        again = _drop_secondary(cursor)
        _exec(cursor, "SELECT setseed(0.17)")
        _texts(cursor, vocabulary, n_messages, rng)
        _exec(
            cursor,
            "INSERT INTO crm_contact (id, name, created_at) "
            "SELECT c, 'Customer ' || c, now() - interval '400 days' FROM generate_series(1, %s) c",
            [CONTACTS],
            "contacts",
        )
        _exec(
            cursor,
            "INSERT INTO crm_contactemail (id, contact_id, email, is_primary) "
            "SELECT c, c, 'c' || c || '@customer' || (c % 5000) || '.test', true "
            f"FROM generate_series(1, {CONTACTS}) c",
            [],
            "contact addresses",
        )
        # One row per conversation: its mailbox b, its number j in that mailbox.
        _exec(
            cursor,
            f"""
            CREATE UNLOGGED TABLE bench_conv AS
            SELECT c + 1 AS id, c % {MAILBOXES} AS b, c / {MAILBOXES} AS j,
                   1 + floor({CONTACTS} * power(random(), 2))::int AS contact,
                   CASE WHEN c % {MAILBOXES} < {EXPIRING_MAILBOXES}
                        THEN (c / {MAILBOXES}) % 4 = 0 ELSE (c / {MAILBOXES}) % 5 < 2 END AS linked,
                   t.subject, random() AS u
            FROM generate_series(0, {n_conversations - 1}) c JOIN bench_text t ON t.k = c + 1
            """,
            [],
            "conversations (staging)",
        )
        _exec(
            cursor,
            f"""
            UPDATE bench_conv SET u = CASE
                WHEN b < {EXPIRING_MAILBOXES} AND NOT linked THEN 35 + u * 330 ELSE u * 365 END
            """,
        )
        _exec(
            cursor,
            f"""
            CREATE UNLOGGED TABLE bench_msg AS
            SELECT p * {MAILBOXES} + cv.b + 1 AS k, p, cv.id AS conv, cv.b, cv.contact,
                   cv.linked, cv.subject, p - cv.j * 3 AS nth,
                   now() - make_interval(secs => cv.u * 86400)
                         + make_interval(secs => (p - cv.j * 3) * random() * 86400) AS at,
                   t.body
            FROM bench_conv cv, generate_series(cv.j * 3, least(cv.j * 3 + 2, {PER_MAILBOX - 1})) p,
                 bench_text t WHERE t.k = p * {MAILBOXES} + cv.b + 1
            """,
            [],
            "messages (staging, bodies)",
        )
        raw = r"""convert_to(
            'From: "Customer ' || g.contact || '" <c' || g.contact || '@customer'
              || (g.contact % 5000) || E'.test>\r\nTo: box' || g.b || E'@acme.test\r\n'
              || 'Subject: ' || CASE WHEN g.nth > 0 THEN 'Re: ' ELSE '' END || g.subject
              || E'\r\nDate: ' || to_char(g.at AT TIME ZONE 'UTC', 'Dy, DD Mon YYYY HH24:MI:SS')
              || E' +0000\r\nMessage-ID: <' || g.k || E'@bench.test>\r\nMIME-Version: 1.0\r\n'
              || E'Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\n'
              || E'Content-Type: text/plain; charset=utf-8\r\n\r\n' || g.body
              || E'\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>'
              || g.body || E'</p></body></html>\r\n--b--\r\n', 'UTF8')"""
        _exec(
            cursor,
            f"INSERT INTO mail_rawmessage (sha256, data, size) "
            f"SELECT encode(sha256(r), 'hex'), r, length(r) FROM (SELECT {raw} AS r FROM bench_msg g) x",
            [],
            "raw messages",
        )
        _exec(
            cursor,
            f"""
            INSERT INTO mail_message (id, identity, message_id, raw_sha256, raw_size, status, error,
                subject, from_name, from_address, to_addresses, cc_addresses, in_reply_to,
                "references", text_body, html_body, date, received_at, created_at, content_hash,
                kind, thread_index, body_truncated)
            SELECT g.k, 'bench-' || g.k, g.k || '@bench.test', encode(sha256(r), 'hex'), length(r),
                'parsed', '', CASE WHEN g.nth > 0 THEN 'Re: ' ELSE '' END || g.subject,
                'Customer ' || g.contact, 'c' || g.contact || '@customer' || (g.contact % 5000) || '.test',
                jsonb_build_array('box' || g.b || '@acme.test'), '[]', '', '[]', g.body, '',
                g.at, g.at, g.at, '', 'normal', '', false
            FROM (SELECT g.*, {raw} AS r FROM bench_msg g) g
            """,
            [],
            "messages",
        )
        _exec(
            cursor,
            "INSERT INTO mail_messagecopy (id, message_id, mailbox_id, folder_id, uidvalidity, uid, "
            "flags, is_seen, internal_date) SELECT k, k, b + 1, b + 1, 1, p + 1, '[]', random() < 0.6, at "
            "FROM bench_msg",
            [],
            "copies",
        )
        _exec(
            cursor,
            "INSERT INTO mail_conversationmessage (id, conversation_id, message_id, mailbox_id) "
            "SELECT k, conv, k, b + 1 FROM bench_msg",
            [],
            "conversation links",
        )
        _exec(
            cursor,
            f"""
            INSERT INTO mail_conversation (id, mailbox_id, subject, normalized_subject,
                last_message_at, last_sender, message_count, status, responsible_id,
                status_changed_at, closed_at, waiting_since, snoozed_until, has_attachment)
            SELECT cv.id, cv.b + 1, cv.subject, lower(cv.subject), m.last, 'Customer ' || cv.contact,
                m.n, s.status, CASE WHEN random() < 0.7
                    THEN (%s::bigint[])[1 + floor(random() * {PEOPLE})::int] END,
                m.last, CASE WHEN s.status = 'closed' THEN m.last END,
                CASE WHEN s.status = 'open' THEN m.last END, NULL, false
            FROM bench_conv cv
            JOIN (SELECT conv, max(at) AS last, count(*) AS n FROM bench_msg GROUP BY conv) m
              ON m.conv = cv.id
            CROSS JOIN LATERAL (SELECT CASE
                WHEN m.last < now() - interval '14 days' THEN 'closed'
                WHEN random() < 0.6 THEN 'open' ELSE 'pending' END AS status) s
            """,
            [person_ids],
            "conversations",
        )
        _exec(
            cursor,
            "INSERT INTO crm_activity (id, kind, direction, subject, message_id, occurred_at, created_at) "
            "SELECT k, 'email', 'in', subject, k, at, at FROM bench_msg WHERE linked",
            [],
            "activities",
        )
        _exec(
            cursor,
            "INSERT INTO crm_timelineentry (id, content_type_id, object_id, kind, text, activity_id, "
            "occurred_at) SELECT k, %s, contact, 'activity', '', k, at FROM bench_msg WHERE linked",
            [contact_ct],
            "timeline entries",
        )
        # The search entries as postroom.mail.search writes them, with PostgreSQL's
        # parser on text whose words are already plain (addresses cut at @ and dots).
        head = (
            "setweight(to_tsvector('simple', m.subject), 'A') || "
            "setweight(to_tsvector('simple', m.from_name || ' ' || translate(m.from_address, '@.', '  ')), 'B') || "
            "setweight(to_tsvector('simple', translate(m.to_addresses ->> 0, '@.', '  ')), 'C')"
        )
        _exec(
            cursor,
            f"""
            INSERT INTO mail_search (message_id, document, summary)
            SELECT m.id, {head} || setweight(to_tsvector('simple', m.text_body), 'D'),
                   {head} || setweight(to_tsvector('simple',
                        array_to_string((string_to_array(m.text_body, ' '))[1:50], ' ')), 'D')
            FROM mail_message m
            """,
            [],
            "search entries",
        )
        for statement in again:
            _exec(cursor, statement, [], statement.split(" ON ")[0][:70])
        _exec(cursor, "DROP TABLE bench_msg, bench_conv, bench_text")
        for model_table in ("crm_contact", "crm_contactemail", "mail_message", "mail_messagecopy",
                            "mail_conversation", "mail_conversationmessage", "crm_activity",
                            "crm_timelineentry"):  # fmt: skip
            _exec(
                cursor,
                f"SELECT setval(pg_get_serial_sequence('{model_table}', 'id'), "
                f"(SELECT max(id) FROM {model_table}))",
            )
    generation_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        started_vacuum = time.perf_counter()
        cursor.execute("VACUUM ANALYZE")
        vacuum_s = time.perf_counter() - started_vacuum
        facts = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "generation_s": round(generation_s, 1),
            "vacuum_s": round(vacuum_s, 1),
            "load_average": os.getloadavg()[0],
            "messages": n_messages,
            "vocabulary": vocabulary,
        }
        cursor.execute("CREATE TABLE bench_million_meta (facts jsonb)")
        cursor.execute("INSERT INTO bench_million_meta VALUES (%s)", [json.dumps(facts)])
    say(f"generated in {generation_s:.0f} s (+ VACUUM ANALYZE {vacuum_s:.0f} s)")
    return facts


# ----------------------------------------------------------------------- measuring


@dataclass
class World:
    user: Any
    admin: Any
    granted: list[Any]
    vocabulary: list[str]


def load_world(facts: dict) -> World:
    from django.contrib.auth import get_user_model

    from postroom.mailboxes.models import Mailbox

    users = get_user_model().objects
    granted = list(Mailbox.objects.filter(grants__user__username="bench").order_by("pk"))
    return World(
        users.get(username="bench"), users.get(username="root"), granted, facts["vocabulary"]
    )


def _request(user, path: str, params: dict | None = None) -> Any:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.cache import SessionStore
    from django.test import RequestFactory

    request = RequestFactory().get(path, params or {})
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def _senders(rng: random.Random, count: int) -> list[int]:
    """Contacts drawn as the mail draws its senders (big customers often)."""
    return [1 + int(CONTACTS * rng.random() ** 2) for _ in range(count)]


def inbox_page(world: World, view: str, mailbox_id: int | None, *, admin: bool = False) -> None:
    from postroom.web.inbox_views import inbox

    params = {"view": view} | ({"mailbox": mailbox_id} if mailbox_id else {})
    response = inbox(_request(world.admin if admin else world.user, "/inbox/", params))
    assert response.status_code == 200, response.status_code


def contact_page(world: World, contact_id: int) -> None:
    from postroom.web.crm_views import contact_detail

    response = contact_detail(_request(world.admin, f"/contacts/{contact_id}/"), contact_id)
    assert response.status_code == 200, response.status_code


def search_page(world: World, text: str, mailbox_id: int | None) -> None:
    from postroom.web.views import search_messages

    params = {"q": text} | ({"mailbox": mailbox_id} if mailbox_id else {})
    response = search_messages(_request(world.user, "/search/", params))
    assert response.status_code == 200, response.status_code


def _search_terms(world: World, rng: random.Random, count: int) -> list[tuple[str, int | None]]:
    v = world.vocabulary

    def pick(low: int, high: int) -> str:
        return v[rng.randrange(low, min(high, len(v)))]

    out = []
    for i in range(count):
        text = [pick(30, 150), pick(150, 1000), pick(1000, 6000),
                f"{pick(30, 150)} {pick(30, 1000)}", f"{pick(150, 1000)} {pick(1000, 6000)}"][i % 5]  # fmt: skip
        out.append((text, rng.choice(world.granted).pk if i % 2 else None))
    return out


def measure_reads(world: World, runs: int) -> list[tuple[str, list[float], float]]:
    rng = random.Random(7)
    results = []
    for who, admin in (("user", False), ("admin", True)):
        took: list[float] = []
        plan = [
            (v, rng.choice(world.granted).pk if i % 2 else None) for i in range(runs) for v in VIEWS
        ]
        rng.shuffle(plan)
        for view, box in plan[:10]:
            inbox_page(world, view, box, admin=admin)
        for view, box in plan:
            with timer(took):
                inbox_page(world, view, box, admin=admin)
        results.append((f"inbox list page, {who} ({'/'.join(VIEWS)})", took, INBOX_GOAL_MS))
    senders = _senders(rng, runs + 10)
    for contact in senders[:10]:
        contact_page(world, contact)
    took = []
    for contact in senders[10:]:
        with timer(took):
            contact_page(world, contact)
    results.append(("CRM item's timeline (contact page)", took, TIMELINE_GOAL_MS))
    terms = _search_terms(world, rng, runs + 10)
    for text, box in terms[:10]:
        search_page(world, text, box)
    took = []
    for text, box in terms[10:]:
        with timer(took):
            search_page(world, text, box)
    results.append(("search page, 1-2 words", took, SEARCH_GOAL_MS))
    return results


def sizes() -> tuple[int, int, list[tuple[str, int]]]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_database_size(current_database()), (SELECT count(*) FROM mail_message)"
        )
        total, messages = cursor.fetchone()
        cursor.execute(
            "SELECT relname, pg_total_relation_size(oid) FROM pg_class WHERE relkind = 'r' "
            "AND relnamespace = 'public'::regnamespace ORDER BY 2 DESC LIMIT 8"
        )
        tables = cursor.fetchall()
    return total, messages, tables


# ----------------------------------------------------------------------- the sweep


def probe(world: World, seconds: float, stop_file: str) -> list[float]:
    """Web requests in a loop (inbox pages and contact pages, as people use them),
    for `seconds` or until `stop_file` appears; their latencies in ms."""
    rng = random.Random(11)
    took: list[float] = []
    warm = 20
    started = time.monotonic()
    while True:
        if stop_file and Path(stop_file).exists():
            break
        if seconds and time.monotonic() - started > seconds and len(took) >= 50:
            break
        one: list[float] = []
        with timer(one):
            if rng.random() < 0.7:
                inbox_page(
                    world,
                    rng.choice(VIEWS),
                    rng.choice(world.granted).pk if rng.random() < 0.5 else None,
                )
            else:
                contact_page(world, _senders(rng, 1)[0])
        if warm:
            warm -= 1
        else:
            took += one
    return took


def sweep() -> dict:
    """Give box0..box79 30 days and run retention as `postroom retention` does."""
    from postroom.mailboxes.models import Mailbox
    from postroom.retention import sweep as retention
    from postroom.retention.models import RetentionRun
    from postroom.retention.rules import do_set_mailbox_days

    for mailbox in Mailbox.objects.filter(pk__lte=EXPIRING_MAILBOXES):
        do_set_mailbox_days(mailbox, 30)
    started = time.perf_counter()
    run = retention.request_run(RetentionRun.Trigger.MANUAL, enqueue=False)
    planned_s = time.perf_counter() - started
    say(f"sweep: dry run plans {run.planned_copies:,} copies ({planned_s:.1f} s); removing")
    started = time.perf_counter()
    run = retention.execute(run.pk)
    took = time.perf_counter() - started
    return {
        "planned": run.planned_copies,
        "planned_bytes": run.planned_bytes,
        "dry_run_s": planned_s,
        "copies": run.copies_removed,
        "messages": run.messages_removed,
        "bytes": run.bytes_freed,
        "seconds": took,
    }


def _progress(url: str, seconds: float) -> dict:
    """A stopped sweep's figures, from its run's counters (moved in each batch's commit)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT planned_copies, planned_bytes, copies_removed, messages_removed, "
            "raw_bytes_freed + blob_bytes_freed, extract(epoch FROM now() - started_at) "
            "FROM retention_retentionrun ORDER BY id DESC"
        ).fetchone()
    planned, planned_bytes, copies, messages, freed, removing = row
    seconds = float(removing or seconds)  # since the removal started, the dry run apart
    return {
        "planned": planned, "planned_bytes": planned_bytes, "dry_run_s": float("nan"),
        "copies": copies, "messages": messages, "bytes": freed, "seconds": seconds,
        "stopped": True,
    }  # fmt: skip


def _child(role: str, url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "bench.million", "--role", role, "--database-url", url, *extra]


def measure_sweep(options: Options, facts: dict) -> tuple[list[float], list[float], dict, str]:
    """On a copy of the kept database: the probe idle, then beside the sweep."""
    from django.db import connections

    copy_url = _with_name(options.database_url, _split(options.database_url)[1] + "_sweep")
    _, kept = _split(options.database_url)
    _, copy = _split(copy_url)
    connections.close_all()
    started = time.perf_counter()
    _server(
        options.database_url,
        f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)',
        f'CREATE DATABASE "{copy}" TEMPLATE "{kept}"',
    )
    say(f"sweep: copied the database in {time.perf_counter() - started:.0f} s")
    stop = Path(os.environ["POSTROOM_DATA_DIR"]) / "sweep-done"
    stop.unlink(missing_ok=True)
    env = {**os.environ}
    try:
        idle = subprocess.run(
            _child("probe", copy_url, "--seconds", "40"),
            env=env, cwd=REPO, stdout=subprocess.PIPE, text=True, check=True, timeout=600,
        )  # fmt: skip
        idle_ms = json.loads(idle.stdout)
        load_idle = os.getloadavg()[0]
        sweeper = subprocess.Popen(
            _child("sweep", copy_url), env=env, cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        prober = subprocess.Popen(
            _child("probe", copy_url, "--stop-file", str(stop)),
            env=env, cwd=REPO, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        started = time.perf_counter()
        try:
            result_text, _ = sweeper.communicate(timeout=options.sweep_seconds)
        except subprocess.TimeoutExpired:
            # Stopped like a killed run (it is resumable): the rate is what it did so far.
            sweeper.kill()
            sweeper.communicate()
            result_text = json.dumps(_progress(copy_url, time.perf_counter() - started))
        load_busy = os.getloadavg()[0]
        stop.touch()
        busy_text, _ = prober.communicate(timeout=600)
        if sweeper.returncode and sweeper.returncode != -9:
            raise RuntimeError(f"the sweep broke (exit {sweeper.returncode})")
        loads = f"{load_idle:.2f} idle, {load_busy:.2f} at the sweep's end"
        return idle_ms, json.loads(busy_text), json.loads(result_text), loads
    finally:
        stop.unlink(missing_ok=True)
        _server(options.database_url, f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


# ----------------------------------------------------------------------- report


def _row(name: str, took: list[float], goal: float | None) -> tuple[str, bool]:
    p95 = percentile(took, 95)
    ok = "" if goal is None else ("yes" if p95 < goal else "NO")
    goal_text = f"< {goal:.0f} ms" if goal else ""
    line = (
        f"{name:44} {len(took):5} {percentile(took, 50):7.1f}ms {p95:7.1f}ms "
        f"{percentile(took, 99):7.1f}ms {goal_text:>9}  {ok}"
    )
    return line, ok != "NO"


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    if options.role:
        set_up_django(options.database_url)
        if options.role == "sweep":
            print(json.dumps(sweep()))
        else:
            world = load_world(_generated(options.database_url) or {"vocabulary": []})
            print(json.dumps(probe(world, options.seconds, options.stop_file)))
        return 0

    facts = None if options.regenerate else _generated(options.database_url)
    if facts is None:
        say(f"no complete data set in {options.database_url}: generating it")
        _server(options.database_url, f'DROP DATABASE IF EXISTS "{_split(options.database_url)[1]}" WITH (FORCE)',
                f'CREATE DATABASE "{_split(options.database_url)[1]}"')  # fmt: skip
        set_up_django(options.database_url)
        migrate()
        facts = generate(options.database_url)
        reused = False
    else:
        set_up_django(options.database_url)
        migrate()  # later migrations of others apply to the kept data
        reused = True
    world = load_world(facts)
    say("measuring the pages")
    load_before = os.getloadavg()[0]
    results = [] if options.skip_reads else measure_reads(world, options.runs)
    load_after = os.getloadavg()[0]
    total, messages, tables = sizes()

    title = f"a million messages, PostgreSQL ({messages:,} messages, {CONTACTS:,} contacts, {MAILBOXES} mailboxes)"
    print(f"\n{title}\n{'=' * len(title)}")
    header = f"{'measure':44} {'runs':>5} {'p50':>9} {'p95':>9} {'p99':>9} {'goal p95':>9}  ok"
    print(header)
    print("-" * len(header))
    met = True
    for name, took, goal in results:
        line, ok = _row(name, took, goal)
        met = met and ok
        print(line)
    print()
    when = "reused, generated " + facts["generated_at"] if reused else "generated in this run"
    print(f"{'data set':44} {when}: generation took {facts['generation_s']:.0f} s "
          f"(+ VACUUM ANALYZE {facts['vacuum_s']:.0f} s, load average then {facts['load_average']:.2f})")  # fmt: skip
    print(
        f"{'load average while measuring':44} {load_before:.2f} -> {load_after:.2f} ({os.cpu_count()} CPUs)"
    )
    print(
        f"{'database size':44} {total / 2**30:.2f} GiB: {total / messages:,.0f} bytes per message"
    )
    for name, size in tables:
        print(f"{'  ' + name:44} {size / 2**20:8.0f} MiB  {size / messages:7,.0f} B/message")

    if not options.skip_sweep:
        say("sweep: on a copy of the database")
        idle, busy, swept, loads = measure_sweep(options, facts)
        idle_p99, busy_p99 = percentile(idle, 99), percentile(busy, 99)
        ok = busy_p99 < 2 * idle_p99
        met = met and ok
        print()
        print(f"{'retention sweep (dry run planned)':44} {swept['planned']:,} copies, "
              f"{swept['planned_bytes'] / 2**20:,.0f} MiB, dry run {swept['dry_run_s']:.1f} s")  # fmt: skip
        print(f"{'retention sweep (removed)':44} {swept['copies']:,} copies, {swept['messages']:,} "
              f"emails, {swept['bytes'] / 2**20:,.0f} MiB in {swept['seconds']:.0f} s: "
              f"{swept['copies'] / max(swept['seconds'], 1e-9):,.0f} messages/s"
              f"{' (stopped by --sweep-seconds before the end)' if swept.get('stopped') else ''}")  # fmt: skip
        print(_row("web p99, idle copy", idle, None)[0])
        print(_row("web p99, during the sweep", busy, None)[0])
        print(f"{'web p99 during / idle (goal < 2x)':44} {busy_p99 / idle_p99:.2f}x  "
              f"{'yes' if ok else 'NO'}  (load average {loads})")  # fmt: skip
    print(f"{'peak RSS of the benchmark process':44} {peak_rss_mb():.0f} MB")
    print("\nall goals met" if met else "\nGOAL MISSED")
    return 0


def run(harness, table) -> None:
    """`python -m bench million`: this benchmark in a subprocess (it sets Django up for
    the kept database), its table printed as it is. --quick skips the sweep."""
    from bench.common import run_own_process

    run_own_process(
        harness, table, "bench.million", ["--skip-sweep", "--runs", "20"], "postroom_bench1m"
    )


if __name__ == "__main__":
    sys.exit(main())
