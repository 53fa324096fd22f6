"""`postroom run` keeps serving when one of its processes dies, and starts again cleanly
after it was itself killed with SIGKILL (real process trees, found and stopped by pid)."""

import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest

from postroom.lib.processes import descendants, is_running, stat_fields
from postroom.testing.dovecot import free_port
from postroom.testing.processes import start_postroom, stop, wait_for

pytestmark = [pytest.mark.e2e]


def _children(run: subprocess.Popen) -> dict[str, int]:
    """The supervisor's children by role, from their command lines."""
    found = {}
    for pid in descendants(run.pid):
        fields = stat_fields(pid)
        if not fields or int(fields[1]) != run.pid:
            continue
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if b"gunicorn" in argv:
            found["web"] = pid
        elif b"postroom" in argv and len(argv) > 3:
            found[argv[argv.index(b"postroom") + 1].decode()] = pid
    return found


class Run:
    """One `postroom run` on given ports; remembers every process seen below it."""

    def __init__(self, env: dict[str, str], web: int, ingress: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{web}/login/"
        self.listening = f"Listening at: http://127.0.0.1:{web} ("
        self.ingress = ingress
        self.log = log
        args = ["run", "--bind", f"127.0.0.1:{web}", "--web-workers", "1"]
        self.proc = start_postroom(args, env, log)
        self.seen: dict[int, str] = {}

    def bound(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        return self.listening in self.log.read_text()

    def serves(self) -> bool:
        assert self.proc.poll() is None, self.log.read_text()
        try:
            return urllib.request.urlopen(self.url, timeout=2).status == 200  # noqa: S310
        except OSError:
            return False

    def ingress_answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.ingress), timeout=2) as conn:
                return conn.recv(64).startswith(b"220")
        except OSError:
            return False

    def children(self) -> dict[str, int]:
        self.seen.update(descendants(self.proc.pid))
        return _children(self.proc)

    def wait_until_up(self) -> dict[str, int]:
        # No request before gunicorn has bound: one would wake a worker orphaned by a
        # killed run, which then notices and exits, freeing the port for us.
        wait_for(self.bound, 90, "gunicorn to bind")
        wait_for(self.serves, 90, "the web server")
        wait_for(self.ingress_answers, 30, "the ingress")
        roles = {"web", "sync", "jobs", "ingress"}
        wait_for(lambda: set(self.children()) == roles, 30, "all four children")
        return self.children()

    def alive(self) -> list[int]:
        return [pid for pid, start in self.seen.items() if is_running(pid, start)]

    def cleanup(self) -> None:
        self.children()
        if self.proc.poll() is None:
            stop(self.proc)
        for pid in self.alive():
            os.kill(pid, signal.SIGKILL)


def test_a_killed_child_is_restarted_alone_and_a_killed_run_starts_again(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "POSTROOM_SECRET_KEY")}
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "data")
    web, ingress = free_port(), free_port()
    env["POSTROOM_INGRESS_BIND"] = f"127.0.0.1:{ingress}"
    first = Run(env, web, ingress, tmp_path / "run-1.log")
    second = None
    try:
        before = first.wait_until_up()
        # Each child in turn; web and ingress must bind their ports again.
        for role in ("jobs", "sync", "web", "ingress"):
            killed = before[role]
            os.kill(killed, signal.SIGKILL)
            if role != "web":
                assert first.serves(), f"the web page went with {role}"
            wait_for(lambda r=role, k=killed: first.children().get(r) not in (None, k), 60,
                     f"a new {role}")  # fmt: skip
            wait_for(first.serves, 60, f"the web page after {role} died")
            wait_for(first.ingress_answers, 60, f"the ingress after {role} died")
            now = first.children()
            assert {r: now[r] for r in now if r != role} == {
                r: before[r] for r in before if r != role
            }, f"killing {role} restarted others"
            before = now
            assert f"{role} (pid {killed}) was killed by SIGKILL" in first.log.read_text()

        # The supervisor itself, with SIGKILL: nothing may keep the ports.
        first.children()
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        second = Run(env, web, ingress, tmp_path / "run-2.log")
        second.wait_until_up()
        wait_for(lambda: not first.alive(), 30, "the first run's processes to die with it")
        printed = second.log.read_text()
        assert "in use" not in printed and "restarting" not in printed, printed

        stop(second.proc)
        assert not second.alive(), "Ctrl-C left processes behind"
    finally:
        first.cleanup()
        if second is not None:
            second.cleanup()
