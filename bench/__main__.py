"""`python -m bench [--quick] [--database-url URL] [NAME ...]` (names: see BENCHMARKS).

Runs the named benchmarks (all by default) one after the other, each in its own fresh
Postroom installation under $POSTROOM_DATA_DIR/NAME (a new temp dir when unset) and its
own Dovecot, each bounded in time, and prints one table per benchmark. Missed goals are
printed, never fatal; the exit status is non-zero only when a benchmark broke.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from . import (
    api_bench,
    assign_bench,
    capture_cost,
    fidelity,
    hostile_mail,
    idle_500,
    import_vs_mbsync,
    inbox_bench,
    ingest_throughput,
    ingress_latency,
    initial_sync,
    million,
    outbox_throughput,
    push_latency,
    sla_bench,
    tracking_bench,
)
from .common import BenchTimeout, Harness, Options, Table, say, time_limit

# name -> (benchmark, time budget in seconds for a full run)
BENCHMARKS: dict[str, tuple[Callable[[Harness, Table], None], float]] = {
    "push": (push_latency.run, 240),
    "ingress": (ingress_latency.run, 180),
    "initial": (initial_sync.run, 420),
    "idle": (idle_500.run, 360),
    "capture": (capture_cost.run, 420),
    "outbox": (outbox_throughput.run, 600),
    "ingest": (ingest_throughput.run, 420),
    "inbox": (inbox_bench.run, 600),
    "assign": (assign_bench.run, 600),
    "hostile": (hostile_mail.run, 300),
    "fidelity": (fidelity.run, 120),
    "sla": (sla_bench.run, 900),
    "tracking": (tracking_bench.run, 900),
    "import": (import_vs_mbsync.run, 600),
    "api": (api_bench.run, 900),
    # A million messages on PostgreSQL: generating them takes ~20 minutes the first
    # time (kept in postroom_bench1m and reused), the sweep as long again: named only.
    "million": (million.run, 3600),
}
# Run only when named (`python -m bench --deadline 3600 million`), never by default.
NOT_BY_DEFAULT = {"million"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run, of {', '.join(BENCHMARKS)} (default: all but "
        f"{', '.join(sorted(NOT_BY_DEFAULT))})",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server (postgres://...) to create throwaway "
        "databases on; SQLite files by default",
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=600,
        help="hard limit on the whole run, in seconds (default 600)",
    )
    args = parser.parse_args(argv)
    if unknown := set(args.names) - set(BENCHMARKS):
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def header(options: Options) -> None:
    dovecot = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, check=False)
    version = dovecot.stdout.split()[0] if dovecot.stdout else "?"
    database = "PostgreSQL (throwaway databases)" if options.database_url else "SQLite (WAL)"
    print(
        f"Postroom benchmarks{' (--quick)' if options.quick else ''}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, Dovecot {version}, "
        f"{database}; data under {options.base_dir}"
    )


def interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data_dir = os.environ.get("POSTROOM_DATA_DIR")
    base_dir = Path(data_dir or tempfile.mkdtemp(prefix="postroom-bench-")).resolve()
    options = Options(base_dir=base_dir, quick=args.quick, database_url=args.database_url)
    signal.signal(signal.SIGTERM, interrupt)
    started = time.monotonic()
    header(options)
    broken = interrupted = 0
    for name in args.names or [n for n in BENCHMARKS if n not in NOT_BY_DEFAULT]:
        benchmark, budget = BENCHMARKS[name]
        table = Table(name)
        remaining = args.deadline - (time.monotonic() - started)
        try:
            if remaining < 10:
                raise BenchTimeout("the run's deadline was reached before it started")
            say(f"{name}: setting up (time budget {min(budget, remaining):.0f} s)")
            table.note(f"load average before it: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
            with Harness(name, options) as harness, time_limit(min(budget, remaining)):
                harness.setup()
                benchmark(harness, table)
        except BenchTimeout as exc:
            table.note(f"stopped: {exc}")
        except KeyboardInterrupt:
            table.note("interrupted")
            interrupted = 1
        except Exception as exc:
            broken += 1
            traceback.print_exc()
            table.note(f"broke: {type(exc).__name__}: {exc} (logs in {base_dir / name})")
        table.print()
        if interrupted:
            break
    print(f"\ntotal {time.monotonic() - started:.0f} s")
    if not data_dir and not broken:
        shutil.rmtree(base_dir, ignore_errors=True)
    return 130 if interrupted else 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
