"""What every benchmark shares.

A `Harness` is one benchmark's world: a fresh Postroom data dir and database (SQLite, or a
throwaway database on the PostgreSQL server given with --database-url) migrated by a
`postroom migrate` subprocess, a private Dovecot, and every `postroom` process started for
it, each stopped by pid when the benchmark ends, whatever way it ends. Around it: /proc
measurements, percentiles, mail senders, a Lead watcher and the table printer.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from postroom.lib.processes import descendants, start_time, stat_fields
from postroom.testing.dovecot import Dovecot
from postroom.testing.mail import make_email

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DOMAIN = "acme.test"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_RUN_STARTED = time.monotonic()


def say(text: str) -> None:
    """Progress on stderr, so that stdout holds only the tables."""
    print(f"[{time.monotonic() - _RUN_STARTED:6.1f} s] {text}", file=sys.stderr, flush=True)


def password() -> str:
    return secrets.token_urlsafe(12)


def address(user: str) -> str:
    return f"{user}@{DOMAIN}"


# ----------------------------------------------------------------------- time bounds


class BenchTimeout(Exception):
    """A benchmark ran out of its time budget, or a wait out of its timeout."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise BenchTimeout in the main thread once `seconds` have passed (SIGALRM)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise BenchTimeout(f"its time budget of {seconds:.0f} s was used up")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.01))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> float:
    """Poll until `condition()` is true and return the seconds that took."""
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > timeout:
            raise BenchTimeout(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return time.perf_counter() - start


def pace(start: float, index: int, spacing: float) -> None:
    """Sleep until the `index`-th slot, `spacing` seconds apart from `start`."""
    pause = start + index * spacing - time.perf_counter()
    if pause > 0:
        time.sleep(pause)


# ----------------------------------------------------------------------- /proc


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, alive now."""
    return [root, *descendants(root)]


def status_kb(pid: int, key: str) -> int:
    """A kB figure of /proc/PID/status, such as VmRSS or VmHWM (peak RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def pss_kb(pid: int) -> int:
    """Proportional set size: shared pages split between their users (what RAM it costs)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU time the process used so far: user + system."""
    fields = stat_fields(pid)
    return 0.0 if fields is None else (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def tree_total(root: int, measure: Callable[[int], float]) -> float:
    """`measure` summed over a process tree; processes that vanish meanwhile count 0."""
    total = 0.0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, ValueError):
            total += measure(pid)
    return total


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0..100), interpolated between the nearest ranks."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ----------------------------------------------------------------------- the database


class Db:
    """The benchmark's database seen from the bench process, on a connection of its own.

    Read-only for SQLite; use one per thread. SQL is written with `?` placeholders.
    """

    def __init__(self, url: str) -> None:
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            path = url.removeprefix("sqlite:///")
            self.conn: Any = sqlite3.connect(
                f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=30
            )
        else:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)

    def rows(self, sql: str, *params: object) -> list[tuple]:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
        return list(self.conn.execute(sql, params).fetchall())

    def scalar(self, sql: str, *params: object) -> Any:
        return self.rows(sql, *params)[0][0]

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def _admin(url: str) -> Iterator[Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        yield conn


def create_pg_database(server_url: str, name: str) -> str:
    """Create database `name` on the server of `server_url`; return its URL."""
    from psycopg import sql

    with _admin(server_url) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(urlsplit(server_url)._replace(path="/" + name))


def drop_pg_database(server_url: str, name: str) -> None:
    from psycopg import sql

    with _admin(server_url) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# ----------------------------------------------------------------------- the harness


@dataclass(frozen=True)
class Options:
    base_dir: Path
    quick: bool = False
    database_url: str = ""  # a PostgreSQL server to make throwaway databases on; else SQLite


@dataclass(frozen=True)
class Finished:
    """How a `postroom` subprocess ended, from wait4(): exact peak RSS and CPU time."""

    seconds: float
    returncode: int
    max_rss_mb: float
    cpu_seconds: float


class Harness:
    """One benchmark's Postroom installation and private Dovecot; `close()` stops all of it."""

    def __init__(self, name: str, options: Options) -> None:
        self.name = name
        self.quick = options.quick
        self.options = options
        self.dir = options.base_dir / name
        self.procs: list[subprocess.Popen] = []
        self._started: dict[int, float] = {}
        self.logs: dict[int, Path] = {}  # pid -> its output
        self._dovecot: Dovecot | None = None
        self._pg_name = ""
        self.database_url = ""
        self.env: dict[str, str] = {}

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def dovecot(self) -> Dovecot:
        assert self._dovecot is not None, "setup() first"
        return self._dovecot

    def setup(self) -> None:
        """A fresh data dir and database, migrated; a private Dovecot."""
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        if self.options.database_url:
            self._pg_name = f"postroom_bench_{self.name}_{secrets.token_hex(3)}"
            self.database_url = create_pg_database(self.options.database_url, self._pg_name)
        else:
            self.database_url = f"sqlite:///{self.dir / 'postroom.sqlite3'}"
        # Only what is set here configures Postroom: no inherited DATABASE_URL or broker.
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("POSTROOM_") and key != "DATABASE_URL"
        }
        self.env = {
            **inherited,
            "DATABASE_URL": self.database_url,
            "POSTROOM_DATA_DIR": str(self.dir),
            "POSTROOM_SECRET_KEY": secrets.token_urlsafe(40),
        }
        self.check(["migrate", "--noinput"])
        self._dovecot = Dovecot.start()

    def close(self) -> None:
        """Stop every process started here, by pid, then Dovecot; drop a PostgreSQL database."""
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C waits
        try:
            for proc in reversed(self.procs):
                with contextlib.suppress(Exception):
                    self.stop(proc)
            if self._dovecot is not None:
                with contextlib.suppress(Exception):
                    self._dovecot.stop()
            if self._pg_name:
                with contextlib.suppress(Exception):
                    drop_pg_database(self.options.database_url, self._pg_name)
        finally:
            signal.signal(signal.SIGINT, previous)

    # -------------------------------------------------------------- processes

    def start(
        self, args: list[str], extra_env: dict[str, str] | None = None, module: str = "postroom"
    ) -> subprocess.Popen:
        """Start `python -m postroom ARGS` in a session of its own, output to a log file."""
        name = args[0] if module == "postroom" else module.rsplit(".", 1)[-1]
        log = self.dir / f"{len(self.procs):02d}-{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env={**self.env, **(extra_env or {})},
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, and no terminal Ctrl-C
            )
        self.procs.append(proc)
        self._started[proc.pid] = time.perf_counter()
        self.logs[proc.pid] = log
        return proc

    def reap(self, proc: subprocess.Popen, *, block: bool = True) -> Finished | None:
        """Wait for the process (or see whether it ended) with wait4(), for its rusage."""
        pid, status, usage = os.wait4(proc.pid, 0 if block else os.WNOHANG)
        if pid == 0:
            return None
        proc.returncode = os.waitstatus_to_exitcode(status)
        return Finished(
            seconds=time.perf_counter() - self._started[proc.pid],
            returncode=proc.returncode,
            max_rss_mb=usage.ru_maxrss / 1024,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
        )

    def run(
        self, args: list[str], extra_env: dict[str, str] | None = None, module: str = "postroom"
    ) -> Finished:
        """Run a subprocess to its end and say how long it took and what it used."""
        finished = self.reap(self.start(args, extra_env, module))
        assert finished is not None
        return finished

    def check(self, args: list[str], module: str = "postroom") -> Finished:
        finished = self.run(args, module=module)
        if finished.returncode != 0:
            log = self.logs[self.procs[-1].pid]
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"`{module} {args[0]}` exited with {finished.returncode}:\n{tail}")
        return finished

    def stop(self, proc: subprocess.Popen, timeout: float = 20.0) -> None:
        """Ctrl-C the process group, then SIGKILL it and every descendant it had, by pid.

        Descendants in process groups of their own (`postroom run` starts its children so) outlive a
        signal to the group: they are remembered before and killed one by one if left.
        """
        if proc.returncode is not None:
            return
        tree = {pid: start_time(pid) for pid in process_tree(proc.pid)}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        deadline = time.monotonic() + 5
        for pid, started in tree.items():
            while started is not None and start_time(pid) == started:
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.05)

    # -------------------------------------------------------------- Postroom data

    def db(self) -> Db:
        return Db(self.database_url)

    def add_mailboxes(self, users: dict[str, str], crm_rule: str = "lead") -> list[str]:
        """Connect a Postroom mailbox to each Dovecot user (ORM, no login test); addresses."""
        spec = {
            "host": self.dovecot.host,
            "port": self.dovecot.imap_port,
            "crm_rule": crm_rule,
            "mailboxes": [
                {"address": address(user), "username": user, "password": pw}
                for user, pw in users.items()
            ],
        }
        path = self.dir / "mailboxes.json"
        path.write_text(json.dumps(spec))
        path.chmod(0o600)
        try:
            self.check([str(path)], module="bench.add_mailboxes")
        finally:
            path.unlink()
        return [address(user) for user in users]


# ----------------------------------------------------------------------- mail


class Sender:
    """One SMTP or LMTP connection to `to`; a call returns once the server said 250 to DATA.

    `durations` records each transaction (MAIL FROM to the 250 after DATA), in seconds.
    """

    def __init__(self, port: int, to: str, *, lmtp: bool = False) -> None:
        client = smtplib.LMTP if lmtp else smtplib.SMTP
        self.conn = client(HOST, port, timeout=30)
        self.to = to
        self.durations: list[float] = []

    def __call__(self, raw: bytes, sender: str) -> None:
        started = time.perf_counter()
        self.conn.sendmail(sender, [self.to], raw)
        self.durations.append(time.perf_counter() - started)

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(Exception):
            self.conn.quit()
        self.conn.close()


def send_paced(
    send: Callable[[bytes, str], None], to: str, count: int, spacing: float, tag: str
) -> dict[str, float]:
    """Send `count` emails from new senders, `spacing` s apart; sender -> when 250 came."""
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for i in range(count):
        pace(start, i, spacing)
        sender = f"client{i}-{tag}@customer{i}.test"
        raw = make_email(sender=f"Client {i} <{sender}>", to=to, subject=f"Request {tag}-{i}")
        send(raw, sender)
        sent[sender] = time.perf_counter()
    return sent


class LeadWatcher:
    """Notes when each Lead's email first shows in the database, polling every ~2 ms.

    Polls from a thread on a read-only connection of its own, so it sees commits as
    any other reader would, without taking Postroom's write lock.
    """

    def __init__(self, harness: Harness, interval: float = 0.002) -> None:
        self.seen: dict[str, float] = {}
        self.error: Exception | None = None
        self._url, self._interval = harness.database_url, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="lead-watcher", daemon=True)

    def __enter__(self) -> LeadWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _poll(self) -> None:
        db, last = Db(self._url), 0
        try:
            while not self._stop.is_set():
                at = time.perf_counter()
                try:
                    rows = db.rows("SELECT id, email FROM crm_lead WHERE id > ? ORDER BY id", last)
                except Exception as exc:  # noqa: BLE001 - a busy moment: poll again
                    self.error = exc
                    rows = []
                for pk, email in rows:
                    self.seen.setdefault(email, at)
                    last = pk
                self._stop.wait(self._interval)
        finally:
            db.close()

    def wait_for(self, senders: Iterable[str], timeout: float) -> None:
        """Wait until every sender has a Lead; on timeout the missing ones stay unseen."""
        senders = list(senders)
        with contextlib.suppress(BenchTimeout):
            wait_until(lambda: all(s in self.seen for s in senders), timeout, "leads", 0.01)

    def latencies(self, sent: dict[str, float]) -> list[float]:
        """Seconds from each send's 250 to its Lead, for the senders that got one."""
        return [self.seen[s] - at for s, at in sent.items() if s in self.seen]


def lead_latencies(
    harness: Harness,
    send: Callable[[bytes, str], None],
    to: str,
    count: int,
    spacing: float,
    tag: str,
    timeout: float = 60,
) -> tuple[list[float], int]:
    """Send `count` emails from new senders; (seconds from each 250 to its Lead, missing)."""
    with LeadWatcher(harness) as watcher:
        sent = send_paced(send, to, count, spacing, tag)
        watcher.wait_for(sent, timeout)
    latencies = watcher.latencies(sent)
    return latencies, count - len(latencies)


def alternating_latencies(
    harness: Harness,
    targets: dict[str, tuple[Callable[[bytes, str], None], str]],
    count: int,
    spacing: float,
    timeout: float = 60,
) -> tuple[dict[str, list[float]], int]:
    """Send `count` emails to each target (name -> (send, to)), one target after the
    other, email by email, `spacing` s apart (a drift of the machine hits each target
    alike); (name -> seconds from each 250 to its Lead, missing)."""
    sent: dict[str, dict[str, float]] = {name: {} for name in targets}
    names = list(targets)
    with LeadWatcher(harness) as watcher:
        start = time.perf_counter()
        for i in range(count):
            for j, name in enumerate(names if i % 2 == 0 else names[::-1]):
                pace(start, i * len(names) + j, spacing)
                send, to = targets[name]
                sender = f"client{i}-{name}@customer{i}.test"
                raw = make_email(sender=f"Client {i} <{sender}>", to=to, subject=f"Request {i}")
                send(raw, sender)
                sent[name][sender] = time.perf_counter()
        watcher.wait_for([s for by_name in sent.values() for s in by_name], timeout)
    found = {name: watcher.latencies(sent[name]) for name in names}
    return found, len(names) * count - sum(map(len, found.values()))


def warm_up(harness: Harness, send: Callable[[bytes, str], None], to: str, count: int = 3) -> None:
    """Send a few emails one by one and wait for their Leads: every process is up and warm."""
    for i in range(count):
        _, missing = lead_latencies(harness, send, to, 1, 0, f"warm{i}", timeout=60)
        if missing:
            raise BenchTimeout("a warm-up email did not become a Lead within 60 s")


# ----------------------------------------------------------------------- the printer


def fmt(value: float, unit: str) -> str:
    digits = 0 if isinstance(value, int) or abs(value) >= 100 else 1 if abs(value) >= 10 else 2
    return f"{value:,.{digits}f} {unit}".strip()


@dataclass
class Table:
    """One benchmark's figures: value, baseline from the same run, ratio, goal, met."""

    title: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self,
        figure: str,
        value: float,
        unit: str,
        *,
        baseline: float | None = None,
        goal: str = "",
        met: bool | None = None,
    ) -> None:
        self.rows.append(
            (
                figure,
                fmt(value, unit),
                "" if baseline is None else fmt(baseline, unit),
                f"{value / baseline:.2f}x" if baseline else "",
                goal,
                {True: "yes", False: "NO", None: ""}[met],
            )
        )

    def latency(
        self,
        label: str,
        seconds: list[float],
        baseline: list[float] | None = None,
        *,
        goal_p99_ms: float | None = None,
    ) -> None:
        """p50, p95, p99 and max rows (in ms) of a latency sample, beside the baseline's."""
        for p in (50, 95, 99, 100):
            value = percentile(seconds, p) * 1000
            judged = p == 99 and goal_p99_ms is not None
            self.add(
                f"{label} {'max' if p == 100 else f'p{p}'}",
                value,
                "ms",
                baseline=None if baseline is None else percentile(baseline, p) * 1000,
                goal=f"< {goal_p99_ms:,.0f} ms" if judged else "",
                met=value < goal_p99_ms if judged else None,
            )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self) -> None:
        print(f"\n== {self.title}")
        if self.rows:
            header = ("figure", "value", "baseline", "ratio", "goal", "met")
            table = [header, *self.rows]
            widths = [max(len(row[i]) for row in table) for i in range(len(header))]
            for row in table:
                cells = [
                    cell.ljust(width) if i in (0, 4) else cell.rjust(width)
                    for i, (cell, width) in enumerate(zip(row, widths, strict=True))
                ]
                print("  " + "  ".join(cells).rstrip())
        for note in self.notes:
            print(f"  - {note}")
        sys.stdout.flush()


def run_own_process(
    harness: Harness, table: Table, module: str, quick: list[str], database: str
) -> None:
    """A benchmark that sets Django up for its own installation runs as `python -m
    module` in a subprocess; its printed lines become the table's notes. `quick`: its
    arguments under --quick; `database`: the PostgreSQL database it uses on the server
    of --database-url."""
    args = [sys.executable, "-m", module, *(quick if harness.quick else [])]
    if harness.options.database_url:
        url = harness.options.database_url.rstrip("/")
        args += ["--database-url", f"{url.rsplit('/', 1)[0]}/{database}"]
    env = {**os.environ, "POSTROOM_DATA_DIR": str(harness.dir)}
    done = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        table.note(line)
