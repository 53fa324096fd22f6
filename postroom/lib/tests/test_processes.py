"""Processes told apart by pid and start time, from /proc (real processes)."""

import contextlib
import os
import signal
import subprocess
import sys
import time

from postroom.lib.processes import descendants, is_running, start_time, stop_tree

# A child that starts a grandchild and waits for it.
_GRANDCHILD = "import time; time.sleep(30)"
_CHILD = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {_GRANDCHILD!r}])"


def _below(pid: int, count: int) -> dict[int, str]:
    deadline = time.monotonic() + 10
    while len(tree := descendants(pid)) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return tree


def test_a_process_tree_is_found_below_its_root_with_start_times():
    child = subprocess.Popen([sys.executable, "-c", _CHILD], start_new_session=True)
    try:
        tree = _below(child.pid, 1)
        assert len(tree) == 1 and child.pid not in tree
        ((grandchild, started),) = tree.items()
        assert started == start_time(grandchild)
        assert descendants(os.getpid())[child.pid] == start_time(child.pid)
        assert is_running(grandchild, started)
        assert not is_running(grandchild, "1")  # this pid, but another process's
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    assert not is_running(child.pid, None)


def test_stopping_a_tree_kills_a_master_deaf_to_sigterm_and_what_it_started():
    deaf = f"import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); {_CHILD}"
    master = subprocess.Popen([sys.executable, "-c", deaf], start_new_session=True)
    try:
        ((grandchild, started),) = _below(master.pid, 1).items()
        stop_tree(master.pid, start_time(master.pid), timeout=0.5)
        assert not is_running(master.pid, None)
        assert not is_running(grandchild, started)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(master.pid, signal.SIGKILL)
        master.wait()
