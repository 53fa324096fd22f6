"""Starting `postroom` subprocesses in tests and stopping them, whole trees, by pid."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def start_postroom(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "postroom", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the whole tree stops by pid
        )


def stop(proc: subprocess.Popen, sig: int = signal.SIGINT, timeout: float = 30) -> int:
    """Send `sig` to the process group (Ctrl-C by default); kill it if it hangs."""
    try:
        os.killpg(proc.pid, sig)
        return proc.wait(timeout=timeout)
    except ProcessLookupError:
        return proc.wait()
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    proc = start_postroom(args, env, log)
    try:
        yield proc
    finally:
        if proc.poll() is None or group_alive(proc.pid):
            stop(proc)


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def fill_inbox(dovecot, address: str, count: int) -> None:
    """Deliver `count` ~8 KB emails, subjects m0, m1, ..., four at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from .mail import make_email

    body = "Lorem ipsum dolor sit amet. " * 300
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(
            lambda n: dovecot.deliver(make_email(subject=f"m{n}", body=body), to=address),
            range(count),
        ))  # fmt: skip


def sync_with_random_kills(
    address: str,
    env: dict[str, str],
    logs: Path,
    progress: Callable[[], int],
    *,
    kills: int,
    max_pause: float,
) -> tuple[int, int]:
    """Run `postroom sync ADDRESS --once` up to `kills` times, each killed with SIGKILL a
    random moment (up to `max_pause` s) after it stored something (`progress` grows with
    each commit), then once to the end. Returns (seed, kills landed);
    POSTROOM_TEST_SEED replays a run."""
    import random

    seed = int(os.environ.get("POSTROOM_TEST_SEED", time.time()))
    rng = random.Random(seed)
    args = ["sync", address, "--once", "--no-jobs"]
    landed = 0
    for attempt in range(kills):
        before = progress()
        proc = start_postroom(args, env, logs / f"sync-{attempt}.log")
        # Wait until this run is storing, then kill it a random moment later: mid-fetch,
        # mid-batch or between a commit and the next.
        deadline = time.monotonic() + 30
        while progress() == before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(rng.uniform(0, max_pause))
        if proc.poll() is not None:
            break  # it finished before the kill: nothing left to interrupt
        stop(proc, signal.SIGKILL)
        landed = attempt + 1
    final = start_postroom(args, env, logs / "sync-final.log")
    assert final.wait(timeout=300) == 0, (logs / "sync-final.log").read_text()
    return seed, landed
