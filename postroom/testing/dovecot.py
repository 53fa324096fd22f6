"""A private, throwaway Dovecot (IMAP + LMTP) for tests.

Django-free on purpose: benchmarks and plain scripts use it too. Each instance lives in its
own directory (config, sockets, state, log, passwd-file, maildirs) and listens on free
loopback ports, so it never touches the system Dovecot and several can run side by side.
The pitfalls this works around are written up in /work/shared/notes/dovecot-in-tests.md.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import grp
import imaplib
import os
import pwd
import re
import secrets
import shutil
import smtplib
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

from imap_tools.imap_utf7 import utf7_encode

from postroom.lib.processes import is_running, start_time, stop_tree
from postroom.testing.tls import write_self_signed

__all__ = ["Dovecot", "DovecotError", "free_port"]

HOST = "127.0.0.1"
VMAIL_UID = 5000
VMAIL_GID = 5000
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0
NOT_INSTALLED = (
    "dovecot is not installed: run `make test` (it apt-get installs dovecot-imapd dovecot-lmtpd)"
)
# Unix socket paths are limited to 108 bytes and Dovecot nests a few levels below base_dir
# (e.g. "token-login/tokenlogin"), so a long caller-supplied directory gets a short run dir.
_MAX_RUN_DIR_LEN = 60
_SPECIAL_USE = ("Drafts", "Sent", "Junk", "Trash", "Archive")
# Dovecot 2.3's default CAPABILITY after login, without IDLE (for Dovecot.start(idle=False)).
_CAPABILITIES_WITHOUT_IDLE = (
    "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE SORT SORT=DISPLAY THREAD=REFERENCES "
    "THREAD=REFS THREAD=ORDEREDSUBJECT MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN "
    "NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES "
    "WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY PREVIEW "
    "STATUS=SIZE SAVEDATE LITERAL+ NOTIFY SPECIAL-USE"
)
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)

# Instances not stopped yet, so that an interpreter exit (Ctrl-C, crash in a fixture) still
# stops their processes.
_running: set[Dovecot] = set()
_running_lock = threading.Lock()


class DovecotError(RuntimeError):
    """Dovecot could not be started, stopped or used; the message carries the log tail."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


class Dovecot:
    """One private Dovecot master process and everything it owns.

    Use ``Dovecot.start()`` (or ``with Dovecot.start() as dc:``), not the constructor.
    """

    host: str = HOST

    def __init__(
        self,
        directory: Path,
        *,
        imap_port: int,
        lmtp_port: int,
        owns_dir: bool,
        run_dir: Path,
        owns_run_dir: bool,
        tls: bool = False,
        idle: bool = True,
    ) -> None:
        self.dir = directory
        # False: the server does not offer IDLE (clients must poll), like some old servers.
        self.idle = idle
        self.imap_port = imap_port
        self.lmtp_port = lmtp_port
        self.tls = tls
        # With tls: the implicit-TLS listener (the plain one then offers STARTTLS).
        self.imaps_port: int | None = None
        self.instance_name = f"postroom-test-{secrets.token_hex(4)}"
        self.conf_path = directory / "dovecot.conf"
        self.log_path = directory / "dovecot.log"
        self.passwd_path = directory / "passwd"
        self.mail_dir = directory / "mail"
        self.state_dir = directory / "state"
        # With tls: a self-signed certificate for 127.0.0.1 and localhost, made at start.
        self.cert_path = directory / "tls-cert.pem"
        self.key_path = directory / "tls-key.pem"
        self.run_dir = run_dir
        self._owns_dir = owns_dir
        self._owns_run_dir = owns_run_dir
        self._users: dict[str, str] = {}
        self._passwd_mtime = 0
        self._users_lock = threading.Lock()
        self._pid: int | None = None
        self._pid_start: str | None = None

    # ----------------------------------------------------------------- life cycle

    @classmethod
    def start(
        cls,
        base_dir: Path | None = None,
        *,
        timeout: float = START_TIMEOUT,
        tls: bool = False,
        idle: bool = True,
    ) -> Dovecot:
        """Create an instance in ``base_dir`` (a fresh temp dir if None), start it, return it.

        With ``tls`` it presents a self-signed certificate (``cert_path``): implicit TLS on
        ``imaps_port`` and STARTTLS on ``imap_port``. Plain-text login stays allowed on
        ``imap_port`` either way, so that the harness's own APPEND works unchanged.
        Raises DovecotError (with the log tail) if it does not greet within ``timeout``.
        """
        _check_installed()
        _ensure_vmail()
        if base_dir is None:
            directory, owns_dir = Path(tempfile.mkdtemp(prefix="postroom-dovecot-")), True
        else:
            directory, owns_dir = Path(base_dir).resolve(), False
            directory.mkdir(parents=True, exist_ok=True)
        if len(str(directory / "run")) <= _MAX_RUN_DIR_LEN:
            run_dir, owns_run_dir = directory / "run", False
        else:
            run_dir, owns_run_dir = Path(tempfile.mkdtemp(prefix="pr-dc-")), True
        instance = cls(
            directory,
            imap_port=0,
            lmtp_port=0,
            owns_dir=owns_dir,
            run_dir=run_dir,
            owns_run_dir=owns_run_dir,
            tls=tls,
            idle=idle,
        )
        try:
            instance._prepare_dir()
            # Free ports can be taken between picking and binding; pick again a few times.
            for attempt in range(3):
                instance.imap_port, instance.lmtp_port, imaps_port = _free_ports(3)
                instance.imaps_port = imaps_port if tls else None
                instance._write_config()
                try:
                    instance._launch(timeout)
                    break
                except _PortInUse:
                    if attempt == 2:
                        raise
        except BaseException:
            instance.stop()
            raise
        return instance

    def restart(self, *, timeout: float = START_TIMEOUT) -> None:
        """Stop and start again on the same ports and directory, keeping users and mail.

        Connections open at the time are dropped (Dovecot says BYE), as in a real restart.
        """
        if not self.conf_path.exists():
            raise DovecotError(f"{self!r} was stopped and its directory removed")
        self._shutdown()
        try:
            self._launch(timeout)
        except _PortInUse as error:
            raise DovecotError(f"cannot restart Dovecot on its old ports: {error}") from error

    @contextlib.contextmanager
    def down(self, *, timeout: float = START_TIMEOUT) -> Iterator[None]:
        """An outage for the body of the `with`: stopped (open connections dropped, its
        ports refuse), then started again on the same ports with its users and mail."""
        self._shutdown()
        try:
            yield
        finally:
            try:
                self._launch(timeout)
            except _PortInUse as error:
                raise DovecotError(f"cannot start Dovecot on its old ports: {error}") from error

    def stop(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the master and all its children; remove the directory if start() made it."""
        try:
            self._shutdown(timeout=timeout)
        finally:
            if self._owns_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            if self._owns_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def pid(self) -> int | None:
        """The master's pid while it runs, else None."""
        return self._pid

    @property
    def running(self) -> bool:
        """Whether the master process is alive (it may die on its own on a fatal error)."""
        return self._pid is not None and is_running(self._pid, self._pid_start)

    def __enter__(self) -> Dovecot:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        imaps = f" imaps={self.host}:{self.imaps_port}" if self.imaps_port else ""
        return (
            f"<Dovecot {self.instance_name} pid={self._pid} imap={self.host}:{self.imap_port}"
            f"{imaps} lmtp={self.host}:{self.lmtp_port} dir={self.dir}>"
        )

    # ----------------------------------------------------------------- users and mail

    def add_user(self, name: str, password: str, *, timeout: float = 10.0) -> None:
        """Add a user (or change its password) and wait until Dovecot's auth sees it."""
        self.add_users({name: password}, timeout=timeout)

    def add_users(self, users: Mapping[str, str], *, timeout: float = 10.0) -> None:
        """Add (or change) several users with one passwd-file write and one wait.

        Dovecot stats the passwd-file at most once per wall-clock second and re-reads it only
        if its mtime or size changed, so the file is replaced atomically with a strictly
        newer mtime and we wait until a lookup proves the re-read. Users added one after the
        other can thus wait up to a second each: add them together when you can.
        """
        for value in (*users.keys(), *users.values()):
            if not value or any(c in value for c in ":\r\n\0"):
                raise ValueError(f"user names and passwords cannot be empty or hold ':': {value!r}")
        if not users:
            return
        with self._users_lock:
            new_names = [name for name in users if name not in self._users]
            self._users.update(users)
            self._write_passwd()
            written_at = time.time()
        probe = new_names[-1] if new_names else next(iter(users))
        self._wait_for_auth(probe, bool(new_names), written_at, timeout)

    @property
    def users(self) -> dict[str, str]:
        """A copy of the users and passwords in the passwd-file."""
        with self._users_lock:
            return dict(self._users)

    def deliver(
        self,
        raw: bytes,
        to: str,
        mail_from: str = "sender@example.test",
        *,
        timeout: float = 10.0,
    ) -> None:
        """Deliver one message by LMTP; returns once Dovecot answered 250 for it."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=timeout) as lmtp:
            refused = lmtp.sendmail(mail_from, [to], raw)
        if refused:  # only possible with several recipients; kept for clarity
            raise smtplib.SMTPRecipientsRefused(refused)

    def append(
        self,
        user: str,
        password: str,
        raw: bytes,
        folder: str = "INBOX",
        flags: Iterable[str] = (),
        date: dt.datetime | None = None,
        *,
        timeout: float = 10.0,
    ) -> int:
        """APPEND ``raw`` to ``folder`` as ``user`` and return the new message's UID.

        ``flags`` are IMAP flags such as ``"\\Seen"``; a naive ``date`` is local time.
        """
        if isinstance(flags, str):
            flags = (flags,)
        conn = imaplib.IMAP4(self.host, self.imap_port, timeout=timeout)
        try:
            conn.login(user, password)
            flag_list = " ".join(flags)
            typ, data = conn.append(
                _quote_mailbox(folder),
                f"({flag_list})" if flag_list else None,
                imaplib.Time2Internaldate(date) if date is not None else None,
                raw,
            )
            response = data[0] if data and isinstance(data[0], bytes) else b""
            match = _APPENDUID.search(response)
            if typ != "OK" or match is None:
                raise DovecotError(f"APPEND to {folder!r} gave {typ} {response!r}")
            return int(match.group(2))
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of Dovecot's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ----------------------------------------------------------------- internals

    def _prepare_dir(self) -> None:
        self.state_dir.mkdir(exist_ok=True)
        self.mail_dir.mkdir(exist_ok=True)
        # The maildirs are written by the uid 5000 processes only.
        os.chown(self.mail_dir, VMAIL_UID, VMAIL_GID)
        self.mail_dir.chmod(0o700)
        # Auth runs as the `dovecot` user, mail and login processes as others: all must be
        # able to traverse the directory (mkdtemp makes it 0700).
        _make_traversable(self.dir)
        if self._owns_run_dir:
            _make_traversable(self.run_dir)
        if self.passwd_path.exists():
            self._load_passwd()  # a reused directory keeps its users
        else:
            self._write_passwd()
        if self.tls:
            # Read by Dovecot's config process, which runs as root like the master: the
            # key can stay 0600 root.
            write_self_signed(self.cert_path, self.key_path)

    def _write_config(self) -> None:
        d = self.dir
        mailboxes = "\n".join(
            f"  mailbox {name} {{\n    special_use = \\{name}\n    auto = subscribe\n  }}"
            for name in _SPECIAL_USE
        )
        if self.tls:
            # `<path` makes Dovecot read the file's content. With ssl = yes the plain
            # listener advertises STARTTLS; ssl = no (the default here) advertises nothing.
            ssl_settings = f"ssl = yes\nssl_cert = <{self.cert_path}\nssl_key = <{self.key_path}"
            imaps_listener = f"address = {HOST}\n    port = {self.imaps_port}\n    ssl = yes"
        else:
            ssl_settings, imaps_listener = "ssl = no", "port = 0"
        # Dovecot's own list, less IDLE: announced neither in the greeting nor after login.
        capability = "" if self.idle else f"imap_capability = {_CAPABILITIES_WITHOUT_IDLE}"
        self.conf_path.write_text(
            f"""\
# Written by postroom.testing.dovecot for a throwaway test instance.
instance_name = {self.instance_name}
base_dir = {self.run_dir}
state_dir = {self.state_dir}
log_path = {self.log_path}
login_greeting = Dovecot ready ({self.instance_name}).
verbose_proctitle = yes
auth_verbose = yes

protocols = imap lmtp
listen = {HOST}
{ssl_settings}
{capability}
disable_plaintext_auth = no
auth_mechanisms = plain login

first_valid_uid = {VMAIL_UID}
mail_location = maildir:{d}/mail/%n/Maildir
# Nothing here must survive a crash of the machine, only a clean restart.
mail_fsync = never
# Many test connections come from one user on 127.0.0.1 (default 10).
mail_max_userip_connections = 1000
# Past 128 inotify instances per uid Dovecot polls at this interval (default 30 s).
mailbox_idle_check_interval = 1 secs

passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.passwd_path}
}}
userdb {{
  driver = static
  args = uid={VMAIL_UID} gid={VMAIL_GID} home={d}/mail/%n
}}

namespace inbox {{
  inbox = yes
{mailboxes}
}}

service imap-login {{
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    {imaps_listener}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {HOST}
    port = {self.lmtp_port}
  }}
}}
# A failed login from 127.0.0.1 would otherwise delay the next logins from it (any user) by
# 2 to 15 s: one wrong-password test would slow down the tests after it. Failed logins keep
# their own 2 s auth_failure_delay.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
# Share imap processes between connections: one process (and inotify instance) per
# connection exhausts the per-uid inotify limit. client_limit alone does nothing while
# service_count = 1.
service imap {{
  service_count = 0
  client_limit = 100
  process_limit = 50
}}
"""
        )

    def _launch(self, timeout: float) -> None:
        """Start the master (it daemonises), then wait for the IMAP and LMTP greetings."""
        # A stale pid file whose pid got reused would make Dovecot refuse to start.
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / "master.pid").unlink()
        log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        deadline = time.monotonic() + timeout
        # The daemon keeps the inherited stdout/stderr: a pipe would never reach EOF.
        with self.log_path.open("ab") as log:
            try:
                result = subprocess.run(
                    ["dovecot", "-c", str(self.conf_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as error:
                with contextlib.suppress(DovecotError):
                    self._adopt_master(time.monotonic() + 1.0)  # so that stop() can kill it
                raise self._error(f"`dovecot` did not daemonise within {timeout:g} s") from error
        if result.returncode != 0:
            new_log = self._log_since(log_start)
            if "Address already in use" in new_log:
                raise _PortInUse(new_log.strip())
            raise self._error(f"`dovecot -c {self.conf_path}` exited with {result.returncode}")
        self._adopt_master(deadline)
        self._wait_for_greetings(deadline)

    def _adopt_master(self, deadline: float) -> None:
        """Record the master pid from base_dir/master.pid (written right after forking)."""
        pid_file = self.run_dir / "master.pid"
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
            time.sleep(0.02)

    def _wait_for_greetings(self, deadline: float) -> None:
        expected = [
            (self.imap_port, b"* OK", self.instance_name.encode(), False),
            (self.lmtp_port, b"220 ", b"", False),
        ]
        if self.imaps_port:
            expected.append((self.imaps_port, b"* OK", self.instance_name.encode(), True))
        for port, prefix, token, use_tls in expected:
            last_error = "no answer"
            while True:
                if not self.running:
                    raise self._error("the Dovecot master exited while starting")
                try:
                    greeting = _read_greeting(self.host, port, use_tls=use_tls)
                    if greeting.startswith(prefix) and token in greeting:
                        break
                    last_error = f"unexpected greeting {greeting!r}"
                except OSError as error:
                    last_error = str(error)
                if time.monotonic() > deadline:
                    raise self._error(f"no greeting on {self.host}:{port} ({last_error})")
                time.sleep(0.05)

    def _shutdown(self, *, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM the master, wait for it, then SIGKILL whatever of its tree is left."""
        pid, start = self._pid, self._pid_start
        if pid is None:
            return
        try:
            stop_tree(pid, start, timeout)
        finally:
            self._pid = self._pid_start = None
            with _running_lock:
                _running.discard(self)
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / "master.pid").unlink()

    def _write_passwd(self) -> None:
        content = "".join(f"{name}:{{PLAIN}}{pw}::::::\n" for name, pw in self._users.items())
        tmp = self.passwd_path.with_name(f".passwd.{secrets.token_hex(4)}")
        tmp.write_text(content)
        tmp.chmod(0o644)  # auth runs as the `dovecot` user
        mtime = max(int(time.time()), self._passwd_mtime + 1)
        os.utime(tmp, (mtime, mtime))
        os.replace(tmp, self.passwd_path)
        self._passwd_mtime = mtime

    def _load_passwd(self) -> None:
        for line in self.passwd_path.read_text().splitlines():
            name, _, rest = line.partition(":")
            password = rest.split(":", 1)[0].removeprefix("{PLAIN}")
            if name and password:
                self._users[name] = password
        self._passwd_mtime = int(self.passwd_path.stat().st_mtime)

    def _wait_for_auth(self, name: str, is_new: bool, written_at: float, timeout: float) -> None:
        """Poll `doveadm auth lookup` (it has no failure delay, unlike `auth test`).

        A new user showing up proves the re-read. The lookup does not show passwords, so for
        a changed one only a lookup in a later second than the write proves that auth
        stat()ed the file after it.
        """
        deadline = time.monotonic() + timeout
        later_second = int(written_at) + 1
        while True:
            started_at = time.time()
            result = subprocess.run(
                ["doveadm", "-c", str(self.conf_path), "auth", "lookup", name],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if result.returncode == 0 and (is_new or started_at >= later_second):
                return
            if time.monotonic() > deadline:
                output = (result.stdout + result.stderr).strip()
                raise self._error(f"auth did not see user {name!r} in time: {output}")
            # Sleep to the next second boundary when only time can help.
            pause = later_second - time.time() if result.returncode == 0 else 0.05
            time.sleep(min(max(pause, 0.01), 0.25))

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def _error(self, message: str) -> DovecotError:
        return DovecotError(f"{message}\n--- {self.log_path} (tail) ---\n{self.log_tail()}")


class _PortInUse(DovecotError):
    """A listener could not bind: the picked port was taken in the meantime."""


# --------------------------------------------------------------------- helpers


def _check_installed() -> None:
    if shutil.which("dovecot") is None or shutil.which("doveadm") is None:
        raise RuntimeError(NOT_INSTALLED)
    if os.geteuid() != 0:
        raise RuntimeError("the test Dovecot runs its master as root: run the tests as root")


def _ensure_vmail() -> None:
    """Create the vmail group/user 5000 that owns the test mail, if missing."""
    try:
        grp.getgrgid(VMAIL_GID)
    except KeyError:
        subprocess.run(["groupadd", "-g", str(VMAIL_GID), "vmail"], capture_output=True)
    try:
        pwd.getpwuid(VMAIL_UID)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "-u",
                str(VMAIL_UID),
                "-g",
                str(VMAIL_GID),
                "-d",
                "/nonexistent",
                "-M",
                "-s",
                "/usr/sbin/nologin",
                "vmail",
            ],
            capture_output=True,
        )
    # Another process may have raced us; only the end state matters.
    try:
        grp.getgrgid(VMAIL_GID)
        pwd.getpwuid(VMAIL_UID)
    except KeyError as error:
        raise RuntimeError(f"could not create the vmail user/group {VMAIL_UID}") from error


def _make_traversable(path: Path) -> None:
    """Give o+x to ``path`` and, inside the temp dir, to its parents (pytest makes 0700 ones)."""
    temp_root = Path(tempfile.gettempdir()).resolve()
    for current in (path, *path.parents):
        mode = current.stat().st_mode
        if mode & stat.S_IXOTH:
            continue
        if current == path or current.is_relative_to(temp_root):
            current.chmod(mode | stat.S_IXOTH)
        else:
            raise DovecotError(
                f"{current} is not traversable by other users, so Dovecot's uid {VMAIL_UID} "
                "processes cannot reach the test directory; pick a directory under "
                f"{temp_root}"
            )


def _free_ports(count: int) -> tuple[int, ...]:
    """``count`` distinct free ports (the OS may hand the same one out twice in a row)."""
    while True:
        ports = tuple(free_port() for _ in range(count))
        if len(set(ports)) == count:
            return ports


def _read_greeting(host: str, port: int, *, use_tls: bool = False) -> bytes:
    sock = socket.create_connection((host, port), timeout=2.0)
    if use_tls:
        # Only "is it up?": the certificate is our own self-signed one. wrap_socket takes
        # over the file descriptor, so the wrapped socket is the one to close.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            sock = context.wrap_socket(sock, server_hostname=host)
        except BaseException:
            sock.close()
            raise
    with sock:
        data = b""
        while b"\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        return data


def _quote_mailbox(name: str) -> str:
    encoded = utf7_encode(name).decode("ascii")
    return '"' + encoded.replace("\\", "\\\\").replace('"', '\\"') + '"'


@atexit.register
def _stop_all() -> None:
    """Last resort: never leave a test Dovecot running after the interpreter exits."""
    with _running_lock:
        instances = list(_running)  # stop() takes the lock itself
    for instance in instances:
        with contextlib.suppress(Exception):
            instance.stop(timeout=5.0)
