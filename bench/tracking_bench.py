"""`python -m bench.tracking_bench [--seconds S] [--connections C] [--workers W] [--click]
[--client wrk|python] [--database-url URL]`: the tracking endpoints under load.

A fresh installation (a temp data dir; SQLite, or with --database-url a PostgreSQL
server on which a throwaway database postroom_bench_tracking is made), one tracked
email with one recipient and one link, and gunicorn serving it with the command line
of `postroom run` (sync workers, --workers W as run's --web-workers, its access log
written to /dev/null). The load generator is wrk (Debian's `wrk`, C, its own process,
C connections over 2 threads) when installed, else Python clients in C processes; each
request carries a User-Agent of its own, so that every load is one open to record (no
per-IP limit: POSTROOM_TRACKING_RATE_PER_MINUTE=0).

Prints requests/s, p50/p99 latency, the answers, the events counted afterwards against
the loads answered (lost = answered but not recorded), the web server's peak memory
and the load average.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    process_tree,
    status_kb,
    tree_total,
)
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
# Every request a User-Agent of its own: each load is a new open, none a repeat.
WRK_SCRIPT = """
local threads, n = {}, 0
function setup(thread) thread:set("id", #threads + 1); table.insert(threads, thread) end
function request()
  n = n + 1
  return wrk.format(nil, nil, {["User-Agent"] = "Bench/" .. id .. "." .. n .. " Thunderbird/128"})
end
"""
DB_NAME = "postroom_bench_tracking"


def _postroom(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "postroom", *args], env=env, check=True,
                          capture_output=True, text=True, **kwargs)  # fmt: skip


def _python_client(args):
    port, path, seconds, who = args
    latencies, codes, i = [], {}, 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        i += 1
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


def load_python(port: int, path: str, seconds: float, connections: int) -> dict:
    jobs = [(port, path, seconds, w) for w in range(connections)]
    start = time.perf_counter()
    with multiprocessing.Pool(connections) as pool:
        results = pool.map(_python_client, jobs)
    elapsed = time.perf_counter() - start
    latencies = sorted(x for lat, _ in results for x in lat)
    codes: dict = {}
    for _, c in results:
        for k, v in c.items():
            codes[k] = codes.get(k, 0) + v
    answered = sum(v for k, v in codes.items() if isinstance(k, int) and k < 400)
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2] * 1000,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000,
        "answered": answered,
        "answers": str(codes),
    }


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def load_wrk(port: int, path: str, seconds: float, connections: int, data: Path) -> dict:
    script = data / "bench.lua"
    script.write_text(WRK_SCRIPT)
    done = subprocess.run(
        ["wrk", "--threads", "2", "--connections", str(connections), "--duration",
         f"{seconds:g}s", "--latency", "--timeout", "10s", "--script", str(script),
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rate": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": _ms(re.search(r"50%\s+(\S+)", out).group(1)),
        "p99": _ms(re.search(r"99%\s+(\S+)", out).group(1)),
        "answered": requests - (int(bad.group(1)) if bad else 0),
        "answers": f"non-2xx/3xx {bad.group(1) if bad else 0}"
        + (f"; socket errors {errors.group(1)}" if errors else ""),
    }


def _database(server_url: str) -> str:
    server = server_url.rstrip("/").rsplit("/", 1)[0] + "/postgres"
    drop_pg_database(server, DB_NAME)
    return create_pg_database(server, DB_NAME)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.tracking_bench")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="as postroom run --web-workers")
    parser.add_argument("--click", action="store_true")
    parser.add_argument("--client", choices=["wrk", "python"], default="")
    parser.add_argument("--database-url", default="", help="a PostgreSQL server (postgres://…)")
    opts = parser.parse_args(argv)
    client = opts.client or ("wrk" if shutil.which("wrk") else "python")
    data = Path(tempfile.mkdtemp(prefix="tracking-bench-"))
    env = {**os.environ, "POSTROOM_DATA_DIR": str(data), "POSTROOM_TRACKING_RATE_PER_MINUTE": "0",
           "POSTROOM_LOG_LEVEL": "WARNING"}  # fmt: skip
    if opts.database_url:
        env["DATABASE_URL"] = _database(opts.database_url)
    _postroom(env, "migrate", "--no-input")
    open_token, click_token = _postroom(env, "shell", "-c", SETUP).stdout.split()[-2:]
    path = f"/t/c/{click_token}" if opts.click else f"/t/o/{open_token}.gif"
    port = free_port()
    # postroom run's command line (postroom/cli/management/commands/run.py).
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "postroom.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", str(opts.workers), "--access-logfile", "-", "--graceful-timeout", "5",
         "--no-control-socket"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/t/")
                conn.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        load_before = os.getloadavg()
        cpu_before = tree_total(web.pid, cpu_seconds)
        if client == "wrk":
            result = load_wrk(port, path, opts.seconds, opts.connections, data)
        else:
            result = load_python(port, path, opts.seconds, opts.connections)
        load_after = os.getloadavg()
        web_cpu = tree_total(web.pid, cpu_seconds) - cpu_before
        peak_kb = sum(status_kb(pid, "VmHWM") for pid in process_tree(web.pid))
    finally:
        web.terminate()
        web.wait(10)
    events = int(_postroom(env, "shell", "-c", COUNT).stdout.split()[-1])
    expected = result["answered"] * (2 if opts.click else 1)  # a click writes an open too
    db = "PostgreSQL" if opts.database_url else "SQLite"
    print(f"tracking {'click' if opts.click else 'open'} on {db}, gunicorn {opts.workers} sync "
          f"workers, {client} with {opts.connections} connections for {opts.seconds:g} s, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    print(f"  {result['rate']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms"
          f" ({result['requests']} requests; {result['answers']})")  # fmt: skip
    print(f"  events {events}, expected {expected}, lost {expected - events}")
    print(f"  web server peak memory (gunicorn master + workers, sum of VmHWM) "
          f"{peak_kb / 1024:.0f} MB")  # fmt: skip
    per_request = web_cpu / max(result["requests"], 1)
    print(f"  web server CPU per request {per_request * 1e6:.0f} µs (gunicorn master + workers;"
          f" the database's own CPU not included)")  # fmt: skip
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()


def run(harness, table) -> None:
    """`python -m bench tracking`: the open image, then the link, in subprocesses."""
    from bench.common import REPO

    args = [
        sys.executable,
        "-m",
        "bench.tracking_bench",
        "--seconds",
        "3" if harness.quick else "10",
    ]
    if harness.options.database_url:
        args += ["--database-url", harness.options.database_url]
    env = {**os.environ, "POSTROOM_DATA_DIR": str(harness.dir)}
    for extra in ([], ["--click"]):
        done = subprocess.run([*args, *extra], env=env, cwd=REPO, capture_output=True, text=True,
                              check=True)  # fmt: skip
        for line in done.stdout.splitlines():
            table.note(line)
