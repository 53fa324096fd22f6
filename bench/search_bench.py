"""Search and conversation-list latency with 100,000 messages, on SQLite or PostgreSQL.

    python -m bench.search_bench                       # SQLite, in a fresh data dir
    python -m bench.search_bench --database-url postgres://postgres@127.0.0.1:5432/postroom_bench
    python -m bench.search_bench --messages 5000       # a quick smoke run

Builds a fresh installation (the PostgreSQL database named in the URL is dropped and
created, and dropped again at the end unless --keep), fills it with bulk inserts
(20 mailboxes, ~30,000 conversations, 100,000 messages with subjects and bodies from a
word list with a Zipf distribution, senders from a few thousand addresses), indexes it
with `postroom.mail.search.reindex()`, and then measures, as a user with grants on half
of the mailboxes:

- search: 200 searches through `postroom.mail.search.search()` (1-2 words of common,
  middling and rare frequency, half of them within one mailbox), the first page of 50
  with snippets; and the whole search page (view and template) for the same queries;
- conversation list: the queries the mailbox page runs (`listed_conversations(...)`, count and
  first page of 50 by -last_message_at, the quarantine count), and the whole page.

Prints a table with p50/p95/max, the goals (search < 200 ms, list < 50 ms) and the
process's peak RSS. --explain prints the query plans. Runs in one process, in-process
Django: nothing but the database server is needed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
SEARCH_GOAL_MS = 200.0
LIST_GOAL_MS = 50.0

# A small business vocabulary for the frequent words; the long tail is made of
# pronounceable nonsense words, so that rare words (and rare queries) exist.
_COMMON = """
the to and of a in for is on that we you this with be it are as your have at will
please order price delivery invoice payment offer quote request contract meeting call
thanks regards hello team customer account project update report schedule week month
product service support issue problem question answer shipment warehouse stock item
items chairs tables desks sofa lamp office furniture sample catalogue discount total
amount tax vat date deadline monday tuesday wednesday thursday friday next last today
tomorrow confirm confirmed cancel cancelled change changes address phone email send
sent receive received attached attachment file document draft final version review
approve approved reject budget cost costs estimate proposal agreement terms conditions
warranty return refund repair replacement damaged missing late early urgent important
feedback survey training webinar demo trial license renewal subscription plan upgrade
login password access error bug fix release install server backup data export import
list group partner supplier vendor client lead deal stage pipeline quarter annual
march april june july august september october november december january february
"""
_SYLLABLES = "ka lo mi ra ne tu sa vo pe li do ri ma ko fe zu ba ni ge ho ju ta re wo"
_FIRST = (
    "Anna Bob Carla David Eva Frank Greta Hugo Ines Jan Katja Lukas Maria Nils Olga Pavel "
    "Rita Sven Tanja Uwe Vera Willem Xenia Yusuf Zofia José Łukasz Søren Chloé Müge "
    "Ömer Björn Agnès Renée Zoë"
)
_LAST = (
    "Kowalska Smith Müller García Rossi Dubois Novak Jensen Ivanova Brown Nowak Silva "
    "Fischer Moreau Kovač Larsen Horvath Schmidt Weber Lefèvre Núñez Öztürk Ångström"
)
COMMON, SYLLABLES = _COMMON.split(), _SYLLABLES.split()
FIRST, LAST = _FIRST.split(), _LAST.split()


@dataclass(frozen=True)
class Options:
    database_url: str
    messages: int
    mailboxes: int
    conversations: int
    searches: int
    seed: int
    keep: bool
    explain: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.search_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL; SQLite when unset")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--mailboxes", type=int, default=20)
    parser.add_argument("--conversations", type=int, default=0, help="default: 30%% of messages")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument("--explain", action="store_true", help="print query plans")
    args = parser.parse_args(argv)
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a postgres:// URL (SQLite is the default)")
    return Options(
        database_url=args.database_url,
        messages=args.messages,
        mailboxes=args.mailboxes,
        conversations=args.conversations or max(1, args.messages * 3 // 10),
        searches=args.searches,
        seed=args.seed,
        keep=args.keep,
        explain=args.explain,
    )


_STARTED = time.monotonic()


def say(text: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


# ----------------------------------------------------------------------- the installation


def _admin_url(url: str) -> tuple[str, str]:
    """The server's maintenance database URL, and the benchmark database's name."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/postgres")), parts.path.lstrip("/")


def recreate_pg_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def drop_pg_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    admin, name = _admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def set_up_django(database_url: str, name: str = "search") -> Path:
    """A fresh data dir (and database) named `name`, Django configured for it and
    migrated; the in-process benchmarks (search, inbox, sla) share it."""
    vendor = "pg" if database_url else "sqlite"
    base = Path(os.environ.get("POSTROOM_DATA_DIR") or REPO / "var" / "bench")
    data_dir = (base / f"{name}-{vendor}").resolve()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    os.environ["POSTROOM_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("POSTROOM_LOG_LEVEL", "WARNING")
    if database_url:
        os.environ["DATABASE_URL"] = database_url
        recreate_pg_database(database_url)
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return data_dir


# ----------------------------------------------------------------------- the data


class Words:
    """Zipf-distributed words: a few very common, a long tail of rare ones."""

    def __init__(self, rng: random.Random, tail: int = 6000) -> None:
        seen = set(COMMON)
        made: list[str] = []
        while len(made) < tail:
            word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
            if word not in seen:
                seen.add(word)
                made.append(word)
        self.vocabulary = COMMON + made
        self.cumulative: list[float] = []
        total = 0.0
        for rank in range(1, len(self.vocabulary) + 1):
            total += 1 / rank
            self.cumulative.append(total)
        self.rng = rng

    def sample(self, count: int) -> list[str]:
        return self.rng.choices(self.vocabulary, cum_weights=self.cumulative, k=count)

    def by_rank(self, low: int, high: int) -> str:
        return self.vocabulary[self.rng.randrange(low, min(high, len(self.vocabulary)))]


def _sentences(words: Words, count: int) -> str:
    out, left = [], count
    while left > 0:
        n = min(left, words.rng.randint(6, 16))
        sentence = " ".join(words.sample(n))
        out.append(sentence[:1].upper() + sentence[1:] + ".")
        left -= n
    return " ".join(out)


@dataclass
class World:
    user: Any
    granted: list[Any]
    mailboxes: list[Any]
    words: Words


def build(options: Options) -> World:
    """Users, mailboxes and grants with the ORM; mail with set-based inserts."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from postroom.lib.secretbox import encrypt
    from postroom.mail.bulk import insert_ignoring_conflicts
    from postroom.mail.models import Conversation, ConversationMessage, Message, MessageCopy
    from postroom.mailboxes.models import Folder, Mailbox, MailboxGrant

    rng = random.Random(options.seed)
    words = Words(rng)
    user_model = get_user_model()
    # No passwords: the views are called in-process, and hashing costs seconds.
    user = user_model.objects.create_user("bench", "bench@acme.test")
    others = [
        user_model.objects.create_user(f"colleague{i}", f"colleague{i}@acme.test")
        for i in range(20)
    ]
    password = encrypt(settings.SECRET_KEY, "secret")
    mailboxes, folders = [], {}
    for i in range(options.mailboxes):
        mailbox = Mailbox.objects.create(
            address=f"box{i}@acme.test",
            name=f"Box {i:02d}",
            imap_host="127.0.0.1",
            imap_port=143,
            imap_security="none",
            username=f"box{i}@acme.test",
            password_encrypted=password,
        )
        mailboxes.append(mailbox)
        for name, role in [
            ("INBOX", "inbox"),
            ("Archive", "archive"),
            ("Sent", "sent"),
            ("Junk", "spam"),
        ]:
            folders[mailbox.pk, role] = Folder.objects.create(mailbox=mailbox, name=name, role=role)
        for colleague in rng.sample(others, 5):
            MailboxGrant.objects.create(mailbox=mailbox, user=colleague)
    granted = mailboxes[::2]  # half of them
    for mailbox in granted:
        MailboxGrant.objects.create(mailbox=mailbox, user=user)

    say(f"generating {options.messages} messages in {options.conversations} conversations")
    now = datetime.now(UTC)
    n_conv, n_msg = options.conversations, options.messages
    conv_mailbox = [mailboxes[c % len(mailboxes)] for c in range(n_conv)]
    conv_start = [now - timedelta(days=rng.uniform(0, 730)) for _ in range(n_conv)]
    # Every conversation has a message; the rest go preferentially to some (long threads).
    conv_weights = [rng.paretovariate(1.5) for _ in range(n_conv)]
    msg_conv = list(range(n_conv)) + rng.choices(
        range(n_conv), weights=conv_weights, k=max(0, n_msg - n_conv)
    )
    msg_time = [
        min(conv_start[c] + timedelta(hours=rng.expovariate(1 / 30)), now) for c in msg_conv
    ]
    # Ids in arrival order, as a real installation has them.
    order = sorted(range(n_msg), key=msg_time.__getitem__)
    senders = [
        (
            f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            f"{rng.choice(FIRST).lower()}.{i}@{''.join(rng.choice(SYLLABLES) for _ in range(3))}"
            f".{rng.choice(['com', 'de', 'test', 'org', 'pl'])}",
        )
        for i in range(4000)
    ]
    conv_subject = [" ".join(words.sample(rng.randint(3, 7))).capitalize() for _ in range(n_conv)]

    Conversation.objects.bulk_create(
        [
            Conversation(
                id=c + 1,
                mailbox=conv_mailbox[c],
                subject=conv_subject[c],
                normalized_subject=conv_subject[c].lower()[:255],
                last_message_at=conv_start[c],
                last_sender="",
            )
            for c in range(n_conv)
        ],
        batch_size=2000,
    )
    conv_last: dict[int, tuple[datetime, str]] = {}
    conv_count = [0] * n_conv
    batch = 5000
    for start in range(0, n_msg, batch):
        messages, copies, links = [], [], []
        for position in range(start, min(start + batch, n_msg)):
            index = order[position]
            message_id = position + 1
            c = msg_conv[index]
            mailbox = conv_mailbox[c]
            when = msg_time[index]
            name, address = rng.choice(senders)
            first = conv_count[c] == 0
            conv_count[c] += 1
            subject = conv_subject[c] if first else f"Re: {conv_subject[c]}"
            body = _sentences(words, int(rng.lognormvariate(5.0, 0.9)) + 5)
            html_only = rng.random() < 0.1
            quarantined = rng.random() < 0.005
            messages.append(
                (
                    message_id,
                    f"bench-{message_id}",
                    f"{message_id}@bench.test",
                    f"{message_id:064x}",
                    len(body) + 600,
                    "quarantined" if quarantined else "parsed",
                    "" if quarantined else subject,
                    "" if quarantined else name,
                    "" if quarantined else address,
                    [] if quarantined else [mailbox.address],
                    [] if quarantined or rng.random() > 0.1 else [rng.choice(senders)[1]],
                    "" if quarantined or html_only else body,
                    f"<html><body><p>{body}</p></body></html>" if html_only else "",
                    when,
                    when,
                )
            )
            roll = rng.random()
            role = "inbox" if roll < 0.8 else "archive" if roll < 0.9 else "sent"
            role = "spam" if roll > 0.985 else role
            age = now - when
            seen = rng.random() < (0.95 if age > timedelta(days=7) else 0.4)
            copies.append(
                (message_id, mailbox.pk, folders[mailbox.pk, role].pk, 1, message_id, seen)
            )
            links.append((c + 1, message_id, mailbox.pk))
            if rng.random() < 0.05:  # the same email seen by a second mailbox
                other = rng.choice(mailboxes)
                if other != mailbox:
                    copies.append(
                        (message_id, other.pk, folders[other.pk, "inbox"].pk, 1, message_id, seen)
                    )
            if not first and when >= conv_last.get(c, (when, ""))[0]:
                conv_last[c] = (when, name)
            elif first:
                conv_last.setdefault(c, (when, name))
        with transaction.atomic():
            insert_ignoring_conflicts(
                Message,
                [
                    "id",
                    "identity",
                    "message_id",
                    "raw_sha256",
                    "raw_size",
                    "status",
                    "subject",
                    "from_name",
                    "from_address",
                    "to_addresses",
                    "cc_addresses",
                    "text_body",
                    "html_body",
                    "date",
                    "received_at",
                ],
                messages,
            )
            insert_ignoring_conflicts(
                MessageCopy,
                ["message", "mailbox", "folder", "uidvalidity", "uid", "is_seen"],
                copies,
            )
            insert_ignoring_conflicts(
                ConversationMessage, ["conversation", "message", "mailbox"], links
            )
    say("updating conversations")
    with transaction.atomic():
        rows = [(when, name, conv_count[c], c + 1) for c, (when, name) in conv_last.items()]
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {Conversation._meta.db_table} "  # noqa: S608 - names from the model
                "SET last_message_at = %s, last_sender = %s, message_count = %s WHERE id = %s",
                [(connection.ops.adapt_datetimefield_value(w), n, k, i) for w, n, k, i in rows],
            )
    # Explicit ids were inserted: move PostgreSQL's sequences past them.
    from django.core.management.color import no_style

    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(
            no_style(), [Message, MessageCopy, Conversation, ConversationMessage]
        ):
            cursor.execute(statement)
    return World(user=user, granted=granted, mailboxes=mailboxes, words=words)


def vacuum() -> None:
    """Statistics and visibility maps as autovacuum keeps them on a running server."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


# ----------------------------------------------------------------------- measuring


@contextmanager
def timer(into: list[float]) -> Iterator[None]:
    start = time.perf_counter()
    yield
    into.append((time.perf_counter() - start) * 1000)


# The first words of COMMON are stop words ("the", "in", "will"): in most messages, and
# not what anyone types into a search box. The goal is measured on the others; the
# stop words get a line of their own, the worst case.
STOP_WORDS = 22


def queries(world: World, count: int, seed: int = 99) -> list[tuple[str, Any]]:
    """1-2 words, frequent (in 5-30% of messages) to rare; half within one mailbox."""
    rng = random.Random(seed)
    w = world.words
    out = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            text = w.by_rank(STOP_WORDS, 150)  # business words: order, price, invoice
        elif kind == 1:
            text = w.by_rank(150, 1000)
        elif kind == 2:
            text = w.by_rank(1000, 6000)  # in a few messages
        elif kind == 3:
            text = f"{w.by_rank(STOP_WORDS, 150)} {w.by_rank(STOP_WORDS, 1000)}"
        else:
            text = f"{w.by_rank(150, 1000)} {w.by_rank(1000, 6000)}"
        mailbox = rng.choice(world.granted) if i % 2 else None
        out.append((text, mailbox))
    rng.shuffle(out)
    return out


def stop_word_queries(world: World, count: int) -> list[tuple[str, Any]]:
    rng = random.Random(98)
    return [
        (world.words.vocabulary[i % STOP_WORDS], rng.choice(world.granted) if i % 2 else None)
        for i in range(count)
    ]


def measure(options: Options, world: World) -> list[tuple[str, list[float], float | None]]:
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.cache import SessionStore
    from django.core.paginator import Paginator
    from django.test import RequestFactory

    from postroom.mail.models import listed_conversations, quarantined_in
    from postroom.mail.search import search
    from postroom.web import views

    factory = RequestFactory()

    def request(path: str, params: dict | None = None) -> Any:
        req = factory.get(path, params or {})
        req.user = world.user
        req.session = SessionStore()
        req._messages = FallbackStorage(req)
        return req

    asked = queries(world, options.searches)
    results: list[tuple[str, list[float], float | None]] = []

    # Warm caches (page cache, SQLite's, PostgreSQL's shared buffers) like a running server.
    for text, mailbox in asked[:20]:
        search(world.user, text, mailbox=mailbox)

    took: list[float] = []
    hits = []
    for text, mailbox in asked:
        with timer(took):
            found = search(world.user, text, mailbox=mailbox)
        hits.append(found.total)
    results.append(("search(): first page of 50 with snippets", took, SEARCH_GOAL_MS))
    worst: list[float] = []
    for text, mailbox in stop_word_queries(world, max(20, options.searches // 5)):
        with timer(worst):
            search(world.user, text, mailbox=mailbox)
    results.append(("search(): a stop word alone (worst case)", worst, None))
    say(
        f"search: {sum(hits) / len(hits):.0f} matches on average, "
        f"{min(hits)}..{max(hits)}, {sum(1 for h in hits if h == 0)} without any"
    )

    took = []
    for text, mailbox in asked:
        params = {"q": text} | ({"mailbox": mailbox.pk} if mailbox else {})
        with timer(took):
            response = views.search_messages(request("/search/", params))
        assert response.status_code == 200
    results.append(("search page (view + template)", took, SEARCH_GOAL_MS))

    rng = random.Random(7)
    boxes = [rng.choice(world.granted) for _ in range(options.searches)]
    for mailbox in boxes[:20]:
        list(listed_conversations(mailbox)[:50])

    took = []
    for mailbox in boxes:
        with timer(took):
            conversations = listed_conversations(mailbox)
            page = Paginator(conversations, views.PAGE_SIZE).get_page(1)
            list(page.object_list)
            quarantined_in(mailbox).count()
    results.append(("conversation list: queries of the view", took, LIST_GOAL_MS))

    took = []
    for mailbox in boxes:
        with timer(took):
            response = views.conversation_list(request(f"/mailboxes/{mailbox.pk}/"), mailbox.pk)
        assert response.status_code == 200
    results.append(("conversation list page (view + template)", took, None))
    return results


def explain(world: World) -> None:
    """Print the plans of a broad search and of the conversation list."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from postroom.mail.models import listed_conversations
    from postroom.mail.search import search

    prefix = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN ANALYZE "
    common = world.words.vocabulary[5]
    with CaptureQueriesContext(connection) as captured:
        search(world.user, common)
    conversations = listed_conversations(world.granted[0])
    main = next(q["sql"] for q in captured.captured_queries if "COUNT(*) OVER" in q["sql"])
    sqls = [main, str(conversations[:50].query)]
    with connection.cursor() as cursor:
        for sql in sqls:
            print(f"\n-- {sql[:300]}…\n", file=sys.stderr)
            # Already interpolated by Django for display; fine for a plan of our own data.
            cursor.execute(prefix + sql)
            for row in cursor.fetchall():
                print("   ", " | ".join(str(v) for v in row), file=sys.stderr)


# ----------------------------------------------------------------------- the report


def index_size_mb() -> float | None:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size('mail_search')")
            return cursor.fetchone()[0] / 1e6
        try:
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'mail_search%'")
        except Exception:  # noqa: BLE001 - dbstat is an optional SQLite module
            return None
        return (cursor.fetchone()[0] or 0) / 1e6


def report(
    options: Options,
    results: list[tuple[str, list[float], float | None]],
    facts: list[tuple[str, str]],
) -> bool:
    from django.db import connection

    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    title = f"search and conversation list, {options.messages:,} messages, {engine}"
    print(f"\n{title}\n{'=' * len(title)}")
    header = f"{'measure':44} {'p50':>9} {'p95':>9} {'max':>9} {'goal (p95)':>11}  ok"
    print(header)
    print("-" * len(header))
    met = True
    for name, took, goal in results:
        p95 = percentile(took, 95)
        ok = "" if goal is None else ("yes" if p95 < goal else "NO")
        met = met and ok != "NO"
        goal_text = "" if goal is None else f"< {goal:.0f} ms"
        print(
            f"{name:44} {percentile(took, 50):7.1f}ms {p95:7.1f}ms {max(took):7.1f}ms "
            f"{goal_text:>11}  {ok}"
        )
    print()
    for name, value in facts:
        print(f"{name:44} {value}")
    return met


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    data_dir = set_up_django(options.database_url)
    try:
        say(f"data dir {data_dir}")
        started = time.perf_counter()
        world = build(options)
        load_s = time.perf_counter() - started
        say(f"loaded in {load_s:.1f} s; indexing")

        from postroom.mail.search import reindex

        started = time.perf_counter()
        indexed, _ = reindex(batch_size=1000)
        index_s = time.perf_counter() - started
        vacuum()
        say(f"indexed {indexed} messages in {index_s:.1f} s; measuring")
        if options.explain:
            explain(world)
        results = measure(options, world)
        size = index_size_mb()
        facts = [
            (
                "messages / conversations / mailboxes",
                f"{options.messages:,} / {options.conversations:,} / {options.mailboxes}"
                f" (the user reads {len(world.granted)})",
            ),
            ("bulk load", f"{load_s:.1f} s"),
            ("indexing (reindex)", f"{index_s:.1f} s, {indexed / index_s:,.0f} messages/s"),
            ("index size", "n/a" if size is None else f"{size:.0f} MB"),
            ("peak RSS of the benchmark process", f"{peak_rss_mb():.0f} MB"),
        ]
        met = report(options, results, facts)
        print("\nall goals met" if met else "\nGOAL MISSED: see --explain")
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if options.database_url and not options.keep:
            drop_pg_database(options.database_url)


if __name__ == "__main__":
    sys.exit(main())
