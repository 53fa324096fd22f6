"""`python -m bench.tracking_bench [--requests N] [--concurrency C] [--workers W]
[--database-url URL]`: the tracking endpoints under load.

A fresh installation (a temp data dir, SQLite unless --database-url names PostgreSQL),
one tracked email with one recipient and one link, gunicorn serving it as `postroom
run` does (sync workers, --workers W), and C client processes each loading the image
(or the link, --click) N/C times with a User-Agent of their own per request, so that
every load is one open to record (no per-IP limit: POSTROOM_TRACKING_RATE_PER_MINUTE=0).
Prints requests/s, p50/p99 latency, the answers, and the events counted afterwards
against the loads answered 200 (lost = answered but not recorded).
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from postroom.testing.dovecot import free_port

SETUP = """
from datetime import timedelta
from django.utils import timezone
from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import OutboxMessage
from postroom.tracking import tokens
from postroom.tracking.models import TrackedEmail
mb = Mailbox.objects.create(address="sales@acme.test", name="Sales")
ob = OutboxMessage.objects.create(mailbox=mb, message_id="bench@acme.test", sender=mb.address,
    recipients=["anna@customer.test"], raw=b"x", idempotency_key="bench", status="sent",
    sent_at=timezone.now() - timedelta(hours=1))
TrackedEmail.objects.create(outbox=ob, recipients=["anna@customer.test"],
    links=["https://shop.test/offer"])
print(tokens.open_token(ob.pk, 0)); print(tokens.click_token(ob.pk, 0, 0))
"""
COUNT = "from postroom.tracking.models import TrackingEvent as E; print(E.objects.count())"


def _postroom(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "postroom", *args], env=env, check=True,
                          capture_output=True, text=True, **kwargs)  # fmt: skip


def _client(args):
    port, path, n, who = args
    latencies, codes = [], {}
    for i in range(n):
        start = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", path, headers={"User-Agent": f"Bench/{who}.{i} Thunderbird/128"})
            response = conn.getresponse()
            response.read()
            codes[response.status] = codes.get(response.status, 0) + 1
        except OSError as exc:
            codes[type(exc).__name__] = codes.get(type(exc).__name__, 0) + 1
        finally:
            conn.close()
        latencies.append(time.perf_counter() - start)
    return latencies, codes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracking_bench")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--click", action="store_true")
    parser.add_argument("--database-url", default="")
    opts = parser.parse_args(argv)
    data = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    env = {**os.environ, "POSTROOM_DATA_DIR": str(data), "POSTROOM_TRACKING_RATE_PER_MINUTE": "0",
           "POSTROOM_LOG_LEVEL": "WARNING"}  # fmt: skip
    if opts.database_url:
        env["DATABASE_URL"] = opts.database_url
    _postroom(env, "migrate", "--no-input")
    open_token, click_token = _postroom(env, "shell", "-c", SETUP).stdout.split()[-2:]
    path = f"/t/c/{click_token}" if opts.click else f"/t/o/{open_token}.gif"
    port = free_port()
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "postroom.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(opts.workers), "--no-control-socket"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/t/")
                break
            except OSError:
                time.sleep(0.1)
        each = opts.requests // opts.concurrency
        jobs = [(port, path, each, w) for w in range(opts.concurrency)]
        start = time.perf_counter()
        with multiprocessing.Pool(opts.concurrency) as pool:
            results = pool.map(_client, jobs)
        elapsed = time.perf_counter() - start
    finally:
        web.terminate()
        web.wait(10)
    latencies = sorted(x for lat, _ in results for x in lat)
    codes: dict = {}
    for _, c in results:
        for k, v in c.items():
            codes[k] = codes.get(k, 0) + v
    ok = codes.get(302 if opts.click else 200, 0)
    events = int(_postroom(env, "shell", "-c", COUNT).stdout.split()[-1])
    expected = ok * (2 if opts.click else 1)  # a click writes an open too
    db = "PostgreSQL" if opts.database_url else "SQLite"
    print(f"tracking {'click' if opts.click else 'open'} on {db}, gunicorn {opts.workers} "
          f"workers, {opts.concurrency} clients, {len(latencies)} requests")  # fmt: skip
    p50, p99 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]
    rate = len(latencies) / elapsed
    print(f"  {rate:.0f} req/s, p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    print(f"  answers {codes}; events {events}, expected {expected}, lost {expected - events}")


if __name__ == "__main__":
    main()
