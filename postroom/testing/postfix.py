"""A private, throwaway Postfix in front of the ingress, for tests.

Django-free, like the Dovecot harness. Each instance has its own configuration, queue and
data directories and log file, listens on a free loopback port, and can deliver nowhere
but to the ingress: `relayhost` is empty, every transport other than the ingress's is
`error:`, and only the domains routed to the ingress are accepted (anything else is
refused at RCPT). Its main.cf is the README's recipe ("Behind an MTA"): the ingress gets
mail through dedicated `postroom` (SMTP) and `postroom-lmtp` (LMTP) transports without
line folding, `message_size_limit` equals the ingress's, and unknown recipients are
refused at the door by asking the ingress (`reject_unverified_recipient`).
The measured pitfalls are in /work/shared/notes/postfix-in-tests.md.

It is started and stopped by the pid of its master, bounded in time:

    with Postfix(routes={"acme.test": ("smtp", 2525)}, message_size_limit=...) as mta:
        smtplib.SMTP(mta.host, mta.port).sendmail(...)
        mta.wait_for_delivery(...)
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from postroom.lib.processes import is_running, start_time, stop_tree

__all__ = ["Delivery", "Postfix", "PostfixError", "installed"]

T = TypeVar("T")
HOST = "127.0.0.1"
POSTFIX = "/usr/sbin/postfix"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
NOT_INSTALLED = "postfix is not installed: run `make system-deps` (it apt-get installs postfix)"

_running: set[Postfix] = set()
_running_lock = threading.Lock()

# One delivery attempt in the log: "postfix-test/smtp[123]: 4F1D2A: to=<a@b>,
# relay=127.0.0.1[127.0.0.1]:2525, delay=.., dsn=2.0.0, status=sent (250 2.0.0 OK: stored)"
_DELIVERY = re.compile(
    r" (?P<queue_id>[0-9A-F]{6,}): to=<(?P<to>[^>]*)>, (?:orig_to=<[^>]*>, )?"
    r"relay=(?P<relay>[^,]+), .*?dsn=(?P<dsn>[0-9.]+), status=(?P<status>\w+) "
    r"\((?P<reply>.*)\)$"
)
# Address probes (reject_unverified_recipient) log these instead of sent/bounced.
_PROBE_STATUSES = ("deliverable", "undeliverable")


class PostfixError(RuntimeError):
    """Postfix could not be started, stopped or used; the message carries the log tail."""


def installed() -> bool:
    return os.access(POSTFIX, os.X_OK)


@dataclass(frozen=True)
class Delivery:
    """One line of the log: what became of one recipient of one queued message."""

    queue_id: str
    to: str
    status: str  # sent, bounced, deferred, expired
    dsn: str
    relay: str
    reply: str


class Postfix:
    """A Postfix MTA on a free loopback port that relays `routes` to the ingress.

    `routes` maps a domain (or an address) to ("smtp" | "lmtp", ingress port); each gets
    the dedicated transport of its protocol. Everything else is refused at RCPT.
    """

    def __init__(
        self,
        *,
        routes: Mapping[str, tuple[str, int]],
        message_size_limit: int,
        directory: Path | None = None,
        verify_recipients: bool = True,
        recipient_limit: int = 1,
        tls: bool = False,
        hostname: str = "mx.postfix.test",
    ) -> None:
        if not routes:
            raise PostfixError("a Postfix in front of the ingress needs at least one route")
        for protocol, _ in routes.values():
            if protocol not in ("smtp", "lmtp"):
                raise PostfixError(f"unknown protocol {protocol!r}: smtp or lmtp")
        self.routes = dict(routes)
        self.message_size_limit = message_size_limit
        self.verify_recipients = verify_recipients
        self.recipient_limit = recipient_limit
        self.tls = tls
        self.hostname = hostname
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="postroom-postfix-"))
        self.host = HOST
        self.port = 0
        self.log_path = self.directory / "log" / "postfix.log"
        self._pid: int | None = None
        self._pid_start: str | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self, *, timeout: float = START_TIMEOUT) -> Postfix:
        if not installed():
            raise PostfixError(NOT_INSTALLED)
        if self._pid is not None:
            raise PostfixError("this Postfix is already running")
        self.port = _free_port()
        try:
            self._write_config()
            deadline = time.monotonic() + timeout
            self._postfix("start", timeout=timeout)
            self._adopt_master(deadline)
            self._wait_for_greeting(deadline)
        except BaseException:
            # The error carries the log's tail; nothing is left running or on disk.
            if self._pid is None:
                with contextlib.suppress(PostfixError):
                    self._adopt_master(time.monotonic() + 1.0)
            self.remove()
            raise
        return self

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the master (it stops its children), then SIGKILL what is left; safe twice."""
        pid, start = self._pid, self._pid_start
        if pid is None:
            return
        try:
            stop_tree(pid, start, timeout)
        finally:
            self._pid = self._pid_start = None
            with _running_lock:
                _running.discard(self)

    def remove(self) -> None:
        """Stop, then delete the directory it made itself."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def running(self) -> bool:
        return self._pid is not None and is_running(self._pid, self._pid_start)

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<Postfix {self.host}:{self.port} pid={self._pid} in {self.directory}>"

    # ------------------------------------------------------------------ using it

    def flush(self) -> None:
        """Try deferred mail again now (`postqueue -f`)."""
        self._run(["postqueue", "-c", str(self.config_dir), "-f"], timeout=30)

    def queue(self) -> str:
        """`postqueue -p`: what waits in the queue, "" when it is empty."""
        out = self._run(["postqueue", "-c", str(self.config_dir), "-p"], timeout=30)
        return "" if "Mail queue is empty" in out else out

    def deliveries(self) -> list[Delivery]:
        """Every delivery attempt logged so far, oldest first (address probes excluded)."""
        found = []
        for line in self.log().splitlines():
            match = _DELIVERY.search(line)
            if match and match["status"] not in _PROBE_STATUSES:
                found.append(
                    Delivery(
                        queue_id=match["queue_id"],
                        to=match["to"],
                        status=match["status"],
                        dsn=match["dsn"],
                        relay=match["relay"],
                        reply=match["reply"],
                    )
                )
        return found

    def wait_for(
        self, predicate: Callable[[list[Delivery]], T], *, timeout: float = 60.0, what: str
    ) -> T:
        """Poll the log until predicate(deliveries) is truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.deliveries())
            if value:
                return value
            if time.monotonic() > deadline:
                raise self._error(f"timed out after {timeout:g} s waiting for {what}")
            time.sleep(0.1)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    # ------------------------------------------------------------------ internals

    @property
    def config_dir(self) -> Path:
        return self.directory / "config"

    def _write_config(self) -> None:
        config, queue, data = (self.directory / name for name in ("config", "queue", "data"))
        for path in (config, queue, data, self.log_path.parent):
            path.mkdir(parents=True, exist_ok=True)
            # Explicit modes: Postroom's processes run with umask 077, and Postfix's
            # daemons (user postfix) must read the config and traverse the queue.
            path.chmod(0o755)
        # The queue belongs to root, its subdirectories to postfix (made by `postfix
        # start`'s set-permissions); the data directory to postfix.
        shutil.chown(data, user="postfix")
        data.chmod(0o700)
        _make_traversable(self.directory)
        files = {
            "main.cf": self.main_cf(queue=queue, data=data),
            "master.cf": self.master_cf(),
            "transport": self.transport_map(),
            "relay_domains": "".join(f"{domain} OK\n" for domain in self.routes),
        }
        for name, text in files.items():
            (config / name).write_text(text)
            (config / name).chmod(0o644)

    def transport_map(self) -> str:
        lines = []
        for domain, (protocol, port) in self.routes.items():
            if protocol == "lmtp":
                lines.append(f"{domain} postroom-lmtp:inet:{HOST}:{port}\n")
            else:
                lines.append(f"{domain} postroom:[{HOST}]:{port}\n")
        return "".join(lines)

    def main_cf(self, *, queue: Path, data: Path) -> str:
        config = self.config_dir
        verify = "reject_unverified_recipient" if self.verify_recipients else ""
        tls = (
            "smtp_tls_security_level = encrypt\nsmtp_tls_loglevel = 1\n"
            if self.tls
            else "smtp_tls_security_level = none\n"
        )
        return f"""\
# A test Postfix in front of Postroom's ingress: loopback only, nothing leaves the machine.
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
syslog_name = postfix-test
maillog_file = {self.log_path}
maillog_file_prefixes = {self.log_path.parent}
myhostname = {self.hostname}
mydomain = postfix.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtputf8_enable = yes
smtp_host_lookup = native
lmtp_host_lookup = native
biff = no
alias_maps =
alias_database =
# Nothing may leave: the domains routed to the ingress are all it relays to.
relayhost =
relay_domains = texthash:{config}/relay_domains
transport_maps = texthash:{config}/transport
default_transport = error:5.7.1 this test Postfix delivers only to the ingress
relay_transport = error:5.7.1 this test Postfix delivers only to the ingress
local_transport = error:5.7.1 this test Postfix delivers only to the ingress
smtpd_relay_restrictions = reject_unauth_destination
# The recipe: unknown addresses are refused at the door by asking the ingress (RCPT).
smtpd_recipient_restrictions = {verify}
unverified_recipient_reject_code = 550
address_verify_negative_refresh_time = 2s
address_verify_negative_expire_time = 10s
address_verify_positive_refresh_time = 2s
address_verify_poll_delay = 1s
address_verify_map =
# As big as the ingress takes (POSTROOM_MAX_MESSAGE_SIZE): never accepted, then bounced.
message_size_limit = {self.message_size_limit}
mailbox_size_limit = 0
# One recipient per SMTP transaction: the ingress's one reply after DATA is then that
# recipient's alone (0: Postfix's default, 50; the ingress asks with 452 4.5.3 instead).
postroom_destination_recipient_limit = {self.recipient_limit or 50}
# Test speed: retry deferred mail soon.
minimal_backoff_time = 2s
maximal_backoff_time = 4s
queue_run_delay = 2s
{tls}"""

    def master_cf(self) -> str:
        # No chroot anywhere (a test machine's chroot has no resolv.conf or services);
        # smtpd on the loopback port alone instead of `smtp inet`.
        return f"""\
{HOST}:{self.port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
# The ingress's transports: lines are never folded at 998 bytes, so it stores the
# sender's bytes.
postroom  unix  -       -       n       -       -       smtp
  -o smtp_line_length_limit=0
postroom-lmtp unix -    -       n       -       -       lmtp
  -o lmtp_line_length_limit=0
"""

    def _postfix(self, command: str, *, timeout: float) -> str:
        return self._run([POSTFIX, "-c", str(self.config_dir), command], timeout=timeout)

    def _run(self, args: list[str], *, timeout: float) -> str:
        # `postfix start` leaves the master running with our stdout: a file, never a pipe
        # (the caller would wait for an EOF that comes when the master exits).
        with tempfile.TemporaryFile() as out:
            try:
                result = subprocess.run(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                raise self._error(f"`{' '.join(args)}` took more than {timeout:g} s") from error
            out.seek(0)
            text = out.read().decode(errors="replace")
        if result.returncode != 0:
            raise self._error(f"`{' '.join(args)}` exited with {result.returncode}: {text}")
        return text

    def _adopt_master(self, deadline: float) -> None:
        pid_file = self.directory / "queue" / "pid" / "master.pid"
        while True:
            with contextlib.suppress(FileNotFoundError, ValueError):
                pid = int(pid_file.read_text().strip())
                start = start_time(pid)
                if start is not None:
                    self._pid, self._pid_start = pid, start
                    with _running_lock:
                        _running.add(self)
                    return
            if time.monotonic() > deadline:
                raise self._error(f"no master pid in {pid_file}")
            time.sleep(0.05)

    def _wait_for_greeting(self, deadline: float) -> None:
        last = "no answer"
        while True:
            if not self.running:
                raise self._error("the Postfix master exited while starting")
            try:
                with socket.create_connection((self.host, self.port), timeout=2) as sock:
                    greeting = sock.recv(512)
                    if greeting.startswith(b"220 "):
                        sock.sendall(b"QUIT\r\n")
                        return
                    last = f"unexpected greeting {greeting!r}"
            except OSError as error:
                last = str(error)
            if time.monotonic() > deadline:
                raise self._error(f"no greeting on {self.host}:{self.port} ({last})")
            time.sleep(0.05)

    def _error(self, message: str) -> PostfixError:
        return PostfixError(f"{message}\n--- {self.log_path} ---\n{self.log_tail()}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _make_traversable(path: Path) -> None:
    """Postfix's daemons run as `postfix`: they must reach the directories (mkdtemp: 0700)."""
    for part in [path, *path.parents]:
        mode = part.stat().st_mode
        if not mode & 0o001:
            part.chmod(mode | 0o001)


@atexit.register
def _stop_all() -> None:
    """Last resort: never leave a test Postfix running after the interpreter exits."""
    with _running_lock:
        instances = list(_running)
    for instance in instances:
        with contextlib.suppress(Exception):
            instance.stop(timeout=5.0)
