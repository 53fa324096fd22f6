"""The REST API's latency at 100,000 conversations, against the web views that answer the
same question, in the same run, on SQLite or PostgreSQL (issue 21, "Measured").

    python -m bench.api_bench --database-url postgres://postgres@127.0.0.1:5432/postroom_bench_api
    python -m bench.api_bench --conversations 5000 --runs 20   # a quick smoke run
    python -m bench api                                          # beside the other benchmarks

The data is the inbox benchmark's (bench/inbox_bench.build): 20 mailboxes, 100,000
conversations of one email each, statuses and responsible people as a team has them,
20% of the emails on one of 2,000 leads. Every request goes through the whole Django
stack in-process (django.test.Client: middleware, authentication, the view, its JSON or
its template), one after the other:

- conversation list: GET /api/v1/conversations/?status=… (half within one mailbox)
  with a bearer token, against the inbox page /inbox/?view=… of the same rows with a
  logged-in session; as a user who reads half of the mailboxes and as an administrator;
- CRM item read: GET /api/v1/crm/leads/{id} and …/timeline against the lead's page
  /leads/{id}/ (which shows the item and its timeline together).

Prints p50/p95/max, the queries per request, the goal (API p95 < 50 ms), the load
average while measuring and the peak RSS. The token's rate limit is off for the run
(POSTROOM_API_RATE_PER_MINUTE=0); its per-request UPDATE still happens.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.inbox_bench import Options as InboxOptions
from bench.inbox_bench import build
from bench.search_bench import drop_pg_database, peak_rss_mb, percentile, say, set_up_django, vacuum

REPO = Path(__file__).resolve().parent.parent
GOAL_MS = 50.0
# API status filter -> the inbox view showing the same conversations.
LISTS = {"open": "open", "pending": "waiting", "closed": "closed"}


@dataclass(frozen=True)
class Options:
    database_url: str
    conversations: int
    runs: int
    keep: bool
    reuse: bool


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api_bench", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--database-url", default="", help="PostgreSQL; SQLite when unset")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=60, help="requests per measure and user")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on the database a --keep run left (PostgreSQL), without loading",
    )
    args = parser.parse_args(argv)
    if args.database_url and not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error("--database-url must be a postgres:// URL (SQLite is the default)")
    if args.reuse and not args.database_url:
        parser.error("--reuse needs the --database-url of a --keep run")
    return Options(args.database_url, args.conversations, args.runs, args.keep, args.reuse)


def reuse_django(database_url: str):
    """Django on a database a --keep run left: its data dir, no new load."""
    base = Path(os.environ.get("POSTROOM_DATA_DIR") or REPO / "var" / "bench")
    data_dir = (base / "api-pg").resolve()
    os.environ["POSTROOM_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("POSTROOM_LOG_LEVEL", "WARNING")
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    from bench.inbox_bench import World
    from postroom.mailboxes.models import Mailbox

    users = get_user_model().objects
    user = users.get(username="bench")
    mailboxes = list(Mailbox.objects.order_by("pk"))
    granted = [m for m in mailboxes if m.grants.filter(user=user).exists()]
    return data_dir, World(
        user=user, admin=users.get(username="root"), granted=granted, mailboxes=mailboxes
    )


@dataclass
class Result:
    name: str
    api: list[float]
    api_queries: int
    web: list[float]
    web_queries: int
    api_cpu: list[float]
    web_cpu: list[float]


def _clients(user) -> tuple[Any, Any]:
    """A token client and a session client of `user`, both in-process."""
    from django.test import Client

    from postroom.api.tokens import do_create_token

    raw = do_create_token(user, name="bench", scope="read").raw
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    web = Client()
    web.force_login(user)
    return api, web


def _timed(client, url: str, into: list[float], cpu: list[float]) -> int:
    """One GET: its wall time into `into`, this process's CPU time into `cpu` (on a busy
    machine the CPU time says what a request costs, the wall time what it waited
    besides); returns how many queries it asked."""
    from django.db import connection

    queries = []

    def count(execute, sql, params, many, context):
        queries.append(sql)  # not connection.queries: its log stops growing at 9,000
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        started, used = time.perf_counter(), time.process_time()
        response = client.get(url)
        into.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code} {response.content[:300]!r}")
    return len(queries)


def _pair(name: str, api, web, api_urls: list[str], web_urls: list[str]) -> Result:
    """The API's and the web's requests interleaved, so the machine's load falls on both."""
    for a, w in list(zip(api_urls, web_urls, strict=True))[:3]:  # warm, as a server is
        _timed(api, a, [], [])
        _timed(web, w, [], [])
    result = Result(name, [], 0, [], 0, [], [])
    for a, w in zip(api_urls, web_urls, strict=True):
        result.api_queries = max(result.api_queries, _timed(api, a, result.api, result.api_cpu))
        result.web_queries = max(result.web_queries, _timed(web, w, result.web, result.web_cpu))
    return result


def measure(options: Options, world) -> list[Result]:
    from postroom.crm.models import Lead, TimelineEntry

    rng = random.Random(11)
    results = []
    for who, user, boxes in (
        ("user", world.user, world.granted),
        ("admin", world.admin, world.mailboxes),
    ):
        api, web = _clients(user)
        for status, view in LISTS.items():
            scopes = [rng.choice(boxes).pk if i % 2 else None for i in range(options.runs)]
            api_urls = [
                f"/api/v1/conversations/?status={status}" + (f"&mailbox={m}" if m else "")
                for m in scopes
            ]
            web_urls = [f"/inbox/?view={view}" + (f"&mailbox={m}" if m else "") for m in scopes]
            results.append(_pair(f"{who}: conversations {status}", api, web, api_urls, web_urls))
    # Leads with email on their timeline, as the CRM's users open them.
    with_mail = list(
        TimelineEntry.objects.filter(content_type__model="lead")
        .values_list("object_id", flat=True)
        .distinct()[:500]
    )
    leads = [rng.choice(with_mail) for _ in range(options.runs)]
    assert Lead.objects.filter(pk__in=leads).count() == len(set(leads))
    api, web = _clients(world.admin)
    pages = [f"/leads/{pk}/" for pk in leads]
    results.append(
        _pair("admin: lead", api, web, [f"/api/v1/crm/leads/{pk}" for pk in leads], pages)
    )
    results.append(
        _pair(
            "admin: lead timeline",
            api,
            web,
            [f"/api/v1/crm/leads/{pk}/timeline" for pk in leads],
            pages,
        )
    )
    return results


def report(options: Options, results: list[Result], facts) -> bool:
    from django.db import connection

    engine = "PostgreSQL" if connection.vendor == "postgresql" else "SQLite"
    title = f"REST API against the web views, {options.conversations:,} conversations, {engine}"
    print(f"\n{title}\n{'=' * len(title)}")
    header = (
        f"{'measure':28} {'api p50':>8} {'api p95':>8} {'cpu p95':>8} {'q':>3} "
        f"{'web p50':>8} {'web p95':>8} {'cpu p95':>8} {'q':>3} {'api/web':>7} {'goal':>8}  ok"
    )
    print(header)
    print("-" * len(header))
    met = True
    for r in results:
        p95, web95 = percentile(r.api, 95), percentile(r.web, 95)
        ok = p95 < GOAL_MS
        met = met and ok
        print(
            f"{r.name:28} {percentile(r.api, 50):6.1f}ms {p95:6.1f}ms "
            f"{percentile(r.api_cpu, 95):6.1f}ms {r.api_queries:3d} "
            f"{percentile(r.web, 50):6.1f}ms {web95:6.1f}ms {percentile(r.web_cpu, 95):6.1f}ms "
            f"{r.web_queries:3d} {p95 / web95:7.2f} {'< 50 ms':>8}  {'yes' if ok else 'NO'}"
        )
    print(
        "wall p50/p95 judged by the goal; cpu p95: this process's CPU time per request "
        "(what it costs, the rest is waiting for the machine and the database); q: most "
        "queries one request asked; api/web: ratio of the wall p95s\n"
    )
    for name, value in facts:
        print(f"{name:34} {value}")
    return met


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    os.environ["POSTROOM_API_RATE_PER_MINUTE"] = "0"  # the bench is one token's burst
    world = None
    if options.reuse:
        data_dir, world = reuse_django(options.database_url)
    else:
        data_dir = set_up_django(options.database_url, "api")
    try:
        from django.conf import settings

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        say(f"data dir {data_dir}")
        started = time.perf_counter()
        world = world or build(
            InboxOptions(
                database_url=options.database_url,
                conversations=options.conversations,
                mailboxes=20,
                runs=options.runs,
                seed=5,
                keep=options.keep,
                explain=False,
            )
        )
        load_s = time.perf_counter() - started
        vacuum()
        say(f"loaded in {load_s:.1f} s; measuring")
        load_before = os.getloadavg()
        results = measure(options, world)
        load_after = os.getloadavg()
        facts = [
            ("conversations / mailboxes", f"{options.conversations:,} / 20 (user reads 10)"),
            ("requests per measure", f"{options.runs} API + {options.runs} web, interleaved"),
            ("bulk load", "reused (--reuse)" if options.reuse else f"{load_s:.1f} s"),
            (
                "load average while measuring",
                f"{load_before[0]:.2f} -> {load_after[0]:.2f} "
                f"(5 min {load_after[1]:.2f}; {os.cpu_count()} CPUs)",
            ),
            ("peak RSS of the benchmark process", f"{peak_rss_mb():.0f} MB"),
        ]
        met = report(options, results, facts)
        print("\nall goals met" if met else "\nGOAL MISSED")
        return 0
    finally:
        from django.db import connections

        connections.close_all()
        if options.database_url and not (options.keep or options.reuse):
            drop_pg_database(options.database_url)


def run(harness, table) -> None:
    """`python -m bench api`: this benchmark in a subprocess of its own (it sets up Django
    for its own installation), its table printed as it is."""
    from bench.common import run_own_process

    run_own_process(
        harness,
        table,
        "bench.api_bench",
        ["--conversations", "5000", "--runs", "20"],
        "postroom_bench_api",
    )


if __name__ == "__main__":
    sys.exit(main())
