"""Processes of this host, from /proc: whether a pid is still the process it was.

A pid alone is not an identity: the kernel hands it out again. With the start time
(field 22 of /proc/PID/stat, in clock ticks since boot) it is.
"""

import contextlib
import os
import signal
import time
from pathlib import Path


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state is [0], ppid [1]); None
    when there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw.rsplit(")", 1)[1].split()


def start_time(pid: int) -> str | None:
    """When the process started; None when it is gone (or a zombie nobody reaps)."""
    fields = stat_fields(pid)
    return None if fields is None or fields[0] == "Z" else fields[19]


def is_running(pid: int, start: str | None) -> bool:
    """Alive and still the same process (not a later one that got its pid)."""
    current = start_time(pid)
    return current is not None and (start is None or current == start)


def descendants(root: int) -> dict[int, str]:
    """Every live process below `root` (not `root` itself), with its start time, from
    one scan of /proc."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat_fields(int(entry.name))) and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    frontier = [root]
    while frontier:
        for pid, start in children.get(frontier.pop(), []):
            if pid not in found:
                found[pid] = start
                frontier.append(pid)
    return found


def wait_gone(pid: int, start: str | None, timeout: float) -> bool:
    """Whether the process ended within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while is_running(pid, start):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def stop_tree(pid: int, start: str | None, timeout: float) -> None:
    """SIGTERM a server's master and wait for it, SIGKILL it if it lingers, then SIGKILL
    whatever of the processes below it is left (a master killed hard leaves them)."""
    children = descendants(pid)
    with contextlib.suppress(ProcessLookupError):
        if is_running(pid, start):
            os.kill(pid, signal.SIGTERM)
    if not wait_gone(pid, start, timeout):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_gone(pid, start, 5.0)
    for child, child_start in children.items():
        if is_running(child, child_start):
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
    for child, child_start in children.items():
        wait_gone(child, child_start, 5.0)
