"""The supervisor of `postroom run`, with tiny real children (real processes, by pid)."""

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from postroom.lib.processes import descendants, is_running, stat_fields
from postroom.testing.processes import wait_for

ROOT = Path(__file__).resolve().parents[3]
PY = sys.executable
SLEEPER = "import time; time.sleep(60)"
# Says "ready" once SIGTERM is ignored; only SIGKILL ends it.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)
# A child with a child of its own in its process group, as gunicorn's master and workers.
PARENT = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {SLEEPER!r}, 'grand'])"

_SUPERVISE = """
import json, sys
from postroom.lib.supervisor import Child, Supervisor
spec = json.loads(sys.argv[1])
children = [Child(name, argv) for name, argv in spec.pop("children")]
sys.exit(Supervisor(children, out=sys.stdout.buffer, **spec).run())
"""


class Supervised:
    """A supervisor in a subprocess, its log, and its children by name (argv[-1])."""

    def __init__(self, tmp_path: Path, children: dict[str, str], **options: float) -> None:
        self.log_path = tmp_path / "supervisor.log"
        spec = {"children": [[name, [PY, "-c", code, name]] for name, code in children.items()]}
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [PY, "-c", _SUPERVISE, json.dumps({**spec, **options})],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: dict[int, str] = {}  # every process seen below it, for the clean-up

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def children(self) -> dict[str, int]:
        """The supervisor's live children by name (not their own children)."""
        below = descendants(self.proc.pid)
        self.seen.update(below)
        found = {}
        for pid in below:
            fields = stat_fields(pid)
            if fields and int(fields[1]) == self.proc.pid:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if len(argv) > 1:
                    found[argv[-2].decode()] = pid
        return found

    def wait_for_children(self, names: set[str], what: str) -> dict[str, int]:
        wait_for(lambda: set(self.children()) >= names, 20, what)
        return self.children()

    def cleanup(self) -> None:
        self.children()
        for pid in [self.proc.pid, *self.seen]:
            if is_running(pid, self.seen.get(pid)):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait()


@pytest.fixture
def supervise(tmp_path) -> Iterator:
    started: list[Supervised] = []

    def start(children: dict[str, str], **options: float) -> Supervised:
        started.append(Supervised(tmp_path, children, **options))
        return started[-1]

    yield start
    for supervised in started:
        supervised.cleanup()


def _restart_delays(log: str, name: str) -> list[str]:
    return re.findall(rf"{name} \(pid \d+\) .*; restarting it in (\S+) s", log)


def test_it_restarts_a_killed_child_alone(supervise):
    sup = supervise({"a": SLEEPER, "b": SLEEPER, "c": SLEEPER})
    before = sup.wait_for_children({"a", "b", "c"}, "three children")
    os.kill(before["b"], signal.SIGKILL)
    wait_for(lambda: sup.children().get("b") not in (None, before["b"]), 20, "b again")
    after = sup.children()
    assert after["a"] == before["a"] and after["c"] == before["c"]
    assert f"b (pid {before['b']}) was killed by SIGKILL" in sup.log
    assert "restarting it in 1 s" in sup.log
    assert sup.proc.poll() is None


def test_it_kills_what_a_dead_child_left_in_its_group(supervise):
    sup = supervise({"parent": PARENT})
    parent = sup.wait_for_children({"parent"}, "the child")["parent"]
    wait_for(lambda: len(descendants(parent)) == 1, 20, "the grandchild")
    ((grandchild, started),) = descendants(parent).items()
    os.kill(parent, signal.SIGKILL)
    wait_for(lambda: not is_running(grandchild, started), 20, "the orphan to be killed")
    wait_for(lambda: sup.children().get("parent") not in (None, parent), 20, "a new child")


def test_a_child_that_keeps_dying_is_restarted_ever_later(supervise):
    sup = supervise(
        {"crash": "raise SystemExit(3)", "steady": SLEEPER},
        base_delay=0.05, max_delay=0.2, stable_after=30,
    )  # fmt: skip
    steady = sup.wait_for_children({"steady"}, "the steady child")["steady"]
    wait_for(lambda: len(_restart_delays(sup.log, "crash")) >= 5, 20, "five deaths")
    assert _restart_delays(sup.log, "crash")[:5] == ["0.05", "0.1", "0.2", "0.2", "0.2"]
    assert "exited with code 3" in sup.log
    assert sup.children()["steady"] == steady


def test_the_back_off_starts_over_after_a_child_stayed_up(supervise):
    sup = supervise(
        {"short": "import time; time.sleep(0.3)"},
        base_delay=0.05, max_delay=10, stable_after=0.2,
    )  # fmt: skip
    wait_for(lambda: len(_restart_delays(sup.log, "short")) >= 3, 20, "three deaths")
    assert _restart_delays(sup.log, "short")[:3] == ["0.05", "0.05", "0.05"]
    assert "short (pid" in sup.log and "exited with code 0" in sup.log


def test_sigterm_stops_every_child_and_kills_the_stubborn(supervise):
    sup = supervise({"polite": SLEEPER, "stubborn": STUBBORN}, grace=0.5)
    children = sup.wait_for_children({"polite", "stubborn"}, "two children")
    starts = {pid: sup.seen[pid] for pid in children.values()}
    wait_for(lambda: "stubborn | ready" in sup.log, 20, "the stubborn child to ignore SIGTERM")
    os.kill(sup.proc.pid, signal.SIGTERM)
    assert sup.proc.wait(timeout=30) == 0
    assert not any(is_running(pid, start) for pid, start in starts.items())
    assert "stopping polite, stubborn" in sup.log
    assert f"stubborn (pid {children['stubborn']}) did not stop in time: SIGKILL" in sup.log
    assert "restarting" not in sup.log


def test_its_children_die_with_it_when_it_is_killed(supervise):
    sup = supervise({"a": SLEEPER, "b": SLEEPER})
    children = sup.wait_for_children({"a", "b"}, "two children")
    starts = {pid: sup.seen[pid] for pid in children.values()}
    os.kill(sup.proc.pid, signal.SIGKILL)
    sup.proc.wait(timeout=30)
    wait_for(lambda: not any(is_running(p, s) for p, s in starts.items()), 20,
             "the children to die with their parent")  # fmt: skip


def test_a_second_stop_signal_kills_at_once(supervise):
    sup = supervise({"stubborn": STUBBORN}, grace=600)
    sup.wait_for_children({"stubborn"}, "the child")
    wait_for(lambda: "stubborn | ready" in sup.log, 20, "the child to ignore SIGTERM")
    os.kill(sup.proc.pid, signal.SIGTERM)
    wait_for(lambda: "stopping stubborn" in sup.log, 20, "the supervisor to stop")
    os.kill(sup.proc.pid, signal.SIGTERM)
    assert sup.proc.wait(timeout=30) == 0  # not the 600 s grace
    assert "asked again: SIGKILL now" in sup.log
