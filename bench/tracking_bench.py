"""`python -m bench.tracking_bench [--seconds S] [--connections C] [--workers W] [--click]
[--client wrk|python] [--database-url URL]`: the tracking endpoints under load.

A fresh installation (a temp data dir; SQLite, or with --database-url a PostgreSQL
server on which a throwaway database postroom_bench_tracking is made), one tracked
email with one recipient and one link, and gunicorn started with the very command line
of `postroom run` (postroom.cli.web_server: sync workers, --workers W as run's
--web-workers, default 2; its access log, which leaves out /t/, to /dev/null where run
hands it to its supervisor). The load generator is wrk (C, `apt-get install wrk`;
2 threads, C connections) when installed, else Python clients in C processes. Each
request carries a User-Agent of its own, so that every load is one open to record (no
per-IP limit: POSTROOM_TRACKING_RATE_PER_MINUTE=0; all loads come from 127.0.0.1).

Counting is exact: wrk's connections stop sending at the end of the measured S seconds
and get their last answers before wrk exits, so wrk's count is every load the server
answered; the events in the database afterwards are compared with it (a click writes
an open too: two events).

The generator runs on the same 2 CPUs as the server and the database: its own CPU, the
server's, PostgreSQL's backends' and what every other process on the machine took
meanwhile are printed beside the figures, with the load average.
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    CLOCK_TICKS,
    cpu_seconds,
    create_pg_database,
    drop_pg_database,
    process_tree,
    status_kb,
    tree_total,
)
from postroom.cli.web_server import gunicorn_command
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
# Every request a User-Agent of its own (RUN: one per wrk run, so the warm-up's are not
# repeated either): each load is a new open, none a repeat. After
# STOP_AT (CLOCK_MONOTONIC, as Python's time.monotonic) a connection sends nothing more:
# the loads in flight are answered before wrk's own end, which comes later.
WRK_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } pr_timespec;
           int clock_gettime(int, pr_timespec *); ]]
local ts = ffi.new("pr_timespec")
local function now()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end
local stop_at = STOP_AT
local threads, n = {}, 0
function setup(thread) thread:set("id", #threads + 1); table.insert(threads, thread) end
function request()
  n = n + 1
  local agent = "Bench/RUN." .. id .. "." .. n .. " Thunderbird/128"
  return wrk.format(nil, nil, {["User-Agent"] = agent})
end
function delay() if now() >= stop_at then return 3600000 end return 0 end
"""
DRAIN_SECONDS = 2.0
DB_NAME = "postroom_bench_tracking"


def _postroom(env, *args, **kwargs):
    return subprocess.run([sys.executable, "-m", "postroom", *args], env=env, check=True,
                          capture_output=True, text=True, **kwargs)  # fmt: skip


def _python_client(args):
    port, path, seconds, who = args  # who: the run's tag and the client's number
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
    # A tag per run, as wrk's: the warm-up's agents are not repeated (no event written).
    run = f"{time.monotonic():.6f}"
    jobs = [(port, path, seconds, f"{run}.{w}") for w in range(connections)]
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


def _percentile(out: str, name: str) -> str:
    # A line of its own in the Latency Distribution ("85.50%" elsewhere ends in 50% too).
    found = re.search(rf"(?m)^\s+{name}\s+(\S+)", out)
    return found.group(1) if found else ""


def _ms(text: str) -> float:
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if found is None:  # wrk prints -nan with no answer at all
        return float("nan")
    value, unit = found.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1e3, "m": 6e4, "h": 3.6e6}[unit]


def load_wrk(port: int, path: str, seconds: float, connections: int, data: Path) -> dict:
    script = data / "bench.lua"
    start = time.monotonic()
    lua = WRK_SCRIPT.replace("STOP_AT", repr(start + seconds)).replace("RUN", f"{start:.6f}")
    script.write_text(lua)
    done = subprocess.run(
        ["wrk", "--threads", "2", "--connections", str(connections), "--duration",
         f"{seconds + DRAIN_SECONDS:g}s", "--latency", "--timeout", "10s", "--script",
         str(script), f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "requests": requests,
        "rate": requests / seconds,  # all of them were sent within the S seconds
        "p50": _ms(_percentile(out, "50%")),
        "p99": _ms(_percentile(out, "99%")),
        "answered": requests - (int(bad.group(1)) if bad else 0),
        "answers": f"non-2xx/3xx {bad.group(1) if bad else 0}"
        + (f"; socket errors {errors.group(1)}" if errors else ""),
    }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy so far (all CPUs, /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def _db_backends(database_url: str) -> list[int]:
    """PostgreSQL's server processes serving the benchmark's database (same machine)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [DB_NAME],
        ).fetchall()
    return [pid for (pid,) in rows]


def _database(server_url: str) -> str:
    server = server_url.rstrip("/").rsplit("/", 1)[0] + "/postgres"
    drop_pg_database(server, DB_NAME)
    return create_pg_database(server, DB_NAME)


def _count(env) -> int:
    return int(_postroom(env, "shell", "-c", COUNT).stdout.split()[-1])


def _wait_until_serving(port: int) -> None:
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/t/")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("gunicorn did not answer")


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
    web = subprocess.Popen(gunicorn_command(f"127.0.0.1:{port}", opts.workers), env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        _wait_until_serving(port)
        # A second of load first: every worker forked, connected and its caches warm.
        if client == "wrk":
            warm = load_wrk(port, path, 1.0, opts.connections, data)
        else:
            warm = load_python(port, path, 1.0, opts.connections)
        events_before = _count(env)
        backends = _db_backends(env["DATABASE_URL"]) if opts.database_url else []
        load_before = os.getloadavg()
        web_before = tree_total(web.pid, cpu_seconds)
        db_before = sum(cpu_seconds(pid) for pid in backends)
        gen_before, machine_before = _children_cpu(), _machine_busy()
        started = time.monotonic()
        if client == "wrk":
            result = load_wrk(port, path, opts.seconds, opts.connections, data)
        else:
            result = load_python(port, path, opts.seconds, opts.connections)
        machine = _machine_busy() - machine_before
        elapsed = time.monotonic() - started  # the S seconds and wrk's drain
        generator = _children_cpu() - gen_before
        web_cpu = tree_total(web.pid, cpu_seconds) - web_before
        db_cpu = sum(cpu_seconds(pid) for pid in backends) - db_before
        load_after = os.getloadavg()
        peak_kb = sum(status_kb(pid, "VmHWM") for pid in process_tree(web.pid))
    finally:
        web.terminate()
        web.wait(10)
    events = _count(env) - events_before
    per_load = 2 if opts.click else 1  # a click writes an open too
    expected = result["answered"] * per_load
    db = "PostgreSQL" if opts.database_url else "SQLite"
    n = max(result["requests"], 1)
    print(f"tracking {'click' if opts.click else 'open'} on {db}: gunicorn as `postroom run` "
          f"({opts.workers} sync workers), {client} with {opts.connections} connections for "
          f"{opts.seconds:g} s (after {warm['requests']} warm-up loads), "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    met = result["rate"] >= 2000 and result["p99"] < 20
    print(f"  {result['rate']:.0f} req/s, p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms"
          f" ({result['requests']} loads; {result['answers']}); goal >= 2,000 req/s and "
          f"p99 < 20 ms: {'met' if met else 'not met'}")  # fmt: skip
    print(f"  events {events} for {result['answered']} loads answered (x{per_load}), "
          f"lost {expected - events}")  # fmt: skip
    others = machine - web_cpu - db_cpu - generator
    print(f"  CPU per load: web server {web_cpu / n * 1e6:.0f} µs, "
          + (f"PostgreSQL backends {db_cpu / n * 1e6:.0f} µs, " if opts.database_url else "")
          + f"load generator {generator / n * 1e6:.0f} µs; the machine was busy "
          f"{machine / elapsed:.2f} of {os.cpu_count()} CPUs, "
          f"{max(others, 0) / elapsed:.2f} of them other processes")  # fmt: skip
    print(f"  web server peak memory (gunicorn master + workers, sum of VmHWM) "
          f"{peak_kb / 1024:.0f} MB")  # fmt: skip
    print(f"  load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()


def run(harness, table) -> None:
    """`python -m bench tracking`: the image, the link, and the image with 4 workers, on
    SQLite, and on PostgreSQL too when the run has --database-url (the server's URL,
    e.g. postgres://postgres@127.0.0.1:5432/postgres); each in a subprocess."""
    from bench.common import REPO

    base = [sys.executable, "-m", "bench.tracking_bench", "--seconds",
            "3" if harness.quick else "10"]  # fmt: skip
    databases = [[]]
    if harness.options.database_url:
        databases.append(["--database-url", harness.options.database_url])
    else:
        table.note("tracking: PostgreSQL skipped (give --database-url postgres://...)")
    env = {**os.environ, "POSTROOM_DATA_DIR": str(harness.dir)}
    # 2 workers as `postroom run` starts them; 4 (run --web-workers 4): a sync worker
    # waits idle for each database round trip, more of them overlap those waits.
    for database in databases:
        for extra in ([], ["--click"], ["--workers", "4"]):
            done = subprocess.run([*base, *database, *extra], env=env, cwd=REPO,
                                  capture_output=True, text=True)  # fmt: skip
            for line in done.stdout.splitlines():
                table.note(line)
            if done.returncode:  # said, and the next one measured all the same
                last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                table.note(f"tracking {' '.join(extra) or 'open'} failed: {last}")
