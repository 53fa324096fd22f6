"""A small process supervisor: the children of `postroom run`.

Each child is restarted alone when it dies, after a back-off (1 s doubling up to 30 s,
back to 1 s once it had stayed up a minute), and the log says which child died, how,
and when it comes back. When the supervisor is asked to stop (SIGINT, SIGTERM, SIGHUP)
every child gets SIGTERM, then SIGKILL after a grace; when the supervisor itself is
killed, even with SIGKILL, the kernel signals its children (PR_SET_PDEATHSIG), so no
child outlives it holding a port.

Hand-written on subprocess.Popen: honcho's Manager, which `postroom run` used, stops
everything when one child exits and cannot restart one; supervisord and circus are
daemons with their own configuration and control sockets, far more than four children
of one command need. Linux only for the parent-death signal; elsewhere a SIGKILLed
supervisor leaves its children running.

Each child runs in a process group of its own: a Ctrl-C in the terminal reaches the
supervisor alone, which then stops the children in order, and a signal to a child's
group reaches what it started too (gunicorn's workers).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import IO, BinaryIO

from postroom.lib.backoff import backoff_delay

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


@dataclass(frozen=True)
class Child:
    name: str
    argv: Sequence[str]
    # What the kernel sends the child when the supervisor dies. SIGKILL leaves nothing
    # behind; a child that has children of its own to stop (gunicorn) gets SIGTERM.
    death_signal: int = signal.SIGKILL


class _Slot:
    """A child and its state: the running process, or when it starts again."""

    def __init__(self, child: Child) -> None:
        self.child = child
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.failures = 0  # deaths in a row, each within `stable_after` of its start
        self.restart_at: float | None = None


class Supervisor:
    """Run `children` until a stop signal; restart any that dies. `run()` returns 0 once
    every child has stopped. The main thread only (signal handlers)."""

    def __init__(
        self,
        children: Sequence[Child],
        *,
        out: BinaryIO,
        base_delay: float = 1.0,
        max_delay: float = 30.0,
        stable_after: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        self._slots = [_Slot(child) for child in children]
        self._out = out
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._stable_after = stable_after
        self._grace = grace
        self._width = max([len("system"), *(len(c.name) for c in children)])
        self._stop_requests = 0
        self._selector = selectors.DefaultSelector()
        self._lines: dict[int, bytes] = {}  # a child's output pipe -> its unfinished line

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> int:
        wakeup_r, wakeup_w = os.pipe()
        os.set_blocking(wakeup_r, False)
        os.set_blocking(wakeup_w, False)
        self._selector.register(wakeup_r, selectors.EVENT_READ, None)
        previous_wakeup = signal.set_wakeup_fd(wakeup_w, warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self._on_stop_signal) for sig in STOP_SIGNALS}
        # A handler, even one doing nothing, makes SIGCHLD write to the wakeup pipe: a
        # death is seen at once, not at the next timeout.
        previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, lambda *_: None)
        try:
            for slot in self._slots:
                self._start(slot)
            while not self._stop_requests:
                self._reap()
                self._restart_due()
                self._pump(self._until_next_restart())
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(previous_wakeup)
            self._selector.close()
            os.close(wakeup_r)
            os.close(wakeup_w)
        return 0

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stop_requests += 1

    def _until_next_restart(self) -> float:
        due = [s.restart_at for s in self._slots if s.restart_at is not None]
        return max(0.0, min(due) - time.monotonic()) if due else 1.0

    # -- starting, reaping, restarting ------------------------------------------------

    def _start(self, slot: _Slot) -> None:
        child = slot.child
        slot.restart_at = None
        slot.started = time.monotonic()
        try:
            proc = subprocess.Popen(  # noqa: S603 - argv lists built by the caller, no shell
                list(child.argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=_die_with_parent(child.death_signal),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            self._schedule_restart(slot, f"could not start ({exc})")
            return
        slot.proc = proc
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        os.set_blocking(fd, False)
        self._lines[fd] = b""
        self._selector.register(fd, selectors.EVENT_READ, (child.name, proc.stdout))
        self.log(f"{child.name} started (pid {proc.pid})")

    def _reap(self) -> None:
        for slot in self._slots:
            if slot.proc is None or (code := slot.proc.poll()) is None:
                continue
            pid, slot.proc = slot.proc.pid, None
            # What the child left in its group, e.g. gunicorn workers whose master was
            # killed: they would hold the port its next start binds.
            _killpg(pid, signal.SIGKILL)
            uptime = time.monotonic() - slot.started
            self._schedule_restart(slot, f"(pid {pid}) {_describe(code)} after {uptime:.1f} s")

    def _schedule_restart(self, slot: _Slot, what: str) -> None:
        if time.monotonic() - slot.started >= self._stable_after:
            slot.failures = 0
        slot.failures += 1
        delay = backoff_delay(slot.failures, base=self._base_delay, cap=self._max_delay, jitter=0)
        slot.restart_at = time.monotonic() + delay
        self.log(f"{slot.child.name} {what}; restarting it in {delay:g} s")

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots:
            if slot.proc is None and slot.restart_at is not None and slot.restart_at <= now:
                self._start(slot)

    # -- stopping ---------------------------------------------------------------------

    def _stop_all(self) -> None:
        running = [s.proc for s in self._slots if s.proc is not None and s.proc.poll() is None]
        if running:
            names = ", ".join(s.child.name for s in self._slots if s.proc in running)
            self.log(f"stopping {names}: SIGTERM, SIGKILL after {self._grace:g} s")
        for proc in running:
            _killpg(proc.pid, signal.SIGTERM)
        stop_requests = self._stop_requests
        deadline = time.monotonic() + self._grace
        while any(p.poll() is None for p in running) and time.monotonic() < deadline:
            if self._stop_requests > stop_requests:
                self.log("asked again: SIGKILL now")
                break
            self._pump(0.1)
        for slot in self._slots:
            proc, slot.proc = slot.proc, None
            if proc is None:
                continue
            if proc.poll() is None:
                self.log(f"{slot.child.name} (pid {proc.pid}) did not stop in time: SIGKILL")
            _killpg(proc.pid, signal.SIGKILL)  # the child, if still there, and its group
            proc.wait()
        # The last words of the children, as far as they are written already.
        while self._lines and self._pump(0):
            pass
        for key in list(self._selector.get_map().values()):
            if key.data is not None:
                self._close_pipe(key.fd, key.data[1])

    # -- output -----------------------------------------------------------------------

    def _pump(self, timeout: float) -> bool:
        """Wait up to `timeout` for a signal or a child's output and print whole lines
        of it, prefixed with the child's name. Whether anything was read."""
        read = False
        for key, _ in self._selector.select(timeout):
            if key.data is None:  # the signal wakeup pipe
                with contextlib.suppress(BlockingIOError):
                    while os.read(key.fd, 512):
                        pass
                continue
            name, pipe = key.data
            try:
                chunk = os.read(key.fd, 65536)
            except BlockingIOError:
                continue
            if not chunk:
                if rest := self._lines.get(key.fd):
                    self._write(name, rest)
                self._close_pipe(key.fd, pipe)
                continue
            read = True
            *lines, self._lines[key.fd] = (self._lines[key.fd] + chunk).split(b"\n")
            for line in lines:
                self._write(name, line)
        return read

    def _close_pipe(self, fd: int, pipe: IO[bytes]) -> None:
        self._selector.unregister(fd)
        self._lines.pop(fd, None)
        pipe.close()

    def log(self, message: str) -> None:
        self._write("system", message.encode())

    def _write(self, name: str, line: bytes) -> None:
        prefix = f"{time.strftime('%H:%M:%S')} {name:<{self._width}} | ".encode()
        # A closed stdout (a pipe whose reader left) loses the log, not the children.
        with contextlib.suppress(OSError):
            self._out.write(prefix + line.rstrip(b"\r") + b"\n")
            self._out.flush()


def _describe(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _die_with_parent(sig: int) -> Callable[[], None] | None:
    """A preexec_fn asking the kernel to send `sig` to the child when its parent dies.

    The kernel sends it when the *thread* that forked the child ends, so the supervisor
    starts its children from the main thread. Everything it calls in the child after
    fork is looked up here, before."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]  # fmt: skip
    prctl.restype = ctypes.c_int
    parent = os.getpid()

    def preexec() -> None:
        if prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
        if os.getppid() != parent:  # the parent died before prctl: too late to be told
            os.kill(os.getpid(), sig)

    return preexec
