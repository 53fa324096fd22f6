"""The tracking endpoints (/t/...) answered in front of Django's request stack.

Every load of a tracking image or a tracked link is one request from a stranger's
mail client, many per sent email, and nothing of the site's stack applies to them:
no session, no login, no CSRF, no CSP for a GIF, no login throttling. Through Django's
handler and its eleven middlewares a load cost several milliseconds of CPU, almost
all outside the tracking code (README "Tracking", speed). `wrap` puts a small WSGI
dispatcher in front of the Django application: a path under /t/ goes to `handle`,
everything else to Django as before.

The same rules as the Django views (views.py, which the test client and a deployment
that mounts Django alone still use): GET and HEAD only, the per-IP limit, a signed
token or a plain 404, a redirect only to a link of that email, no cookie, no word of
the organisation. It calls the same events.record.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable
from datetime import UTC

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection
from django.utils.encoding import iri_to_uri

from . import events, ratelimit
from .views import PIXEL

logger = logging.getLogger(__name__)

_OPEN = re.compile(r"/t/o/([^/]*)\.gif\Z")
_CLICK = re.compile(r"/t/c/(.*)\Z", re.DOTALL)
_PLAIN = [
    ("Cache-Control", "no-store, private"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
]
_TEXT = ("Content-Type", "text/plain; charset=utf-8")


class _Meta:
    """What the client-IP helper reads of a request: its META (here, the environ)."""

    def __init__(self, environ: dict):
        self.META = environ


class PostgresStore:
    """On PostgreSQL, the endpoints' own connection per process: statements prepared
    once (no query text built and parsed per load) and `synchronous_commit` off for
    this session alone, so that a load does not wait for its WAL record to reach disk.
    A crash of the database server (not of Postroom) may then lose the events of its
    last fraction of a second; every other write of Postroom keeps waiting for disk."""

    def __init__(self) -> None:
        self._conn = None
        self._pid = 0

    def _connection(self):
        if self._conn is None or self._conn.closed or self._pid != os.getpid():
            import psycopg

            params = connection.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            params.pop("prepare_threshold", None)
            self._conn = psycopg.connect(**params, autocommit=True, prepare_threshold=0)
            self._conn.execute("SET synchronous_commit TO off")
            self._pid = os.getpid()
        return self._conn

    def load(self, email_id: int):
        return self._connection().execute(events.LOAD_SQL, [email_id]).fetchone()

    def write(self, params: list) -> bool:
        try:
            return self._connection().execute(events.WRITE_SQL, params).rowcount == 1
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.IntegrityError):
                raise IntegrityError(str(exc)) from exc
            if isinstance(exc, psycopg.Error):
                raise DatabaseError(str(exc)) from exc
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class SqliteStore:
    """On SQLite, a connection of the endpoints' own per process, sqlite3 spoken to
    directly, with the statements in sqlite3's "?" style, which its statement cache
    keeps compiled: Django's cursor wrapper rewrote the query and adapted each value,
    a third of a load's CPU.

    The web server's processes write one at a time under an flock of their own. SQLite
    lets only one writer in; another waiting for it would sleep in SQLite's busy
    handler, 1, 2, 5, 10, ... ms at a time and blind to the lock coming free, which
    made a tail of 100-300 ms under load. The flock wakes the next process as soon as
    the write is done (a few microseconds). Other Postroom processes (jobs, sync) do not
    take it; against them SQLite's busy timeout still applies, as everywhere.

    This connection never checkpoints the WAL in a write (wal_autocheckpoint=0):
    SQLite runs its automatic checkpoint inside the statement whose commit crossed the
    threshold, that is under the flock, and every web process then waited for the
    checkpoint's fsyncs (50-90 ms every 16,384 WAL pages, measured: the endpoints' p99).
    `checkpoint` copies the WAL instead, at most once every CHECKPOINT_SECONDS, after
    the answer has gone out (handle) and outside the flock: a PASSIVE checkpoint lets
    the other processes go on writing meanwhile. Each event is still committed before
    its answer; a checkpoint only moves committed pages into the database file."""

    LOAD = events.LOAD_SQL.replace("%s", "?")
    WRITE = events.WRITE_SQL.replace("%s", "?")
    CHECKPOINT_SECONDS = 1.0

    def __init__(self) -> None:
        self._conn: sqlite3.Connection | None = None
        self._lock_fd = -1
        self._pid = 0
        self._checkpointed = 0.0  # time.monotonic() of the last checkpoint
        self._written = False  # since then

    def _db(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            params = connection.get_connection_params()
            timeout = settings.SQLITE_BUSY_TIMEOUT
            conn = sqlite3.connect(params["database"], uri=params.get("uri", False),
                                   timeout=timeout, isolation_level=None,  # autocommit
                                   check_same_thread=False)  # fmt: skip
            # Django's pragmas (settings._database, read by get_connection_params), then
            # no automatic checkpoint: this store checkpoints outside its write lock.
            for command in filter(None, map(str.strip, connection.init_commands)):
                conn.execute(command)
            conn.execute("PRAGMA wal_autocheckpoint=0")
            path = settings.DATA_DIR / "tracking-write.lock"
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._conn, self._pid = conn, os.getpid()
            self._checkpointed, self._written = time.monotonic(), False
        return self._conn

    def load(self, email_id: int):
        # fetchall: the statement runs to its end, no read transaction is left open.
        rows = self._db().execute(self.LOAD, (email_id,)).fetchall()
        return rows[0] if rows else None

    def write(self, params: list) -> bool:
        # As Django stores an aware datetime in SQLite: UTC, naive, str().
        for i in (4, 13):
            params[i] = str(params[i].astimezone(UTC).replace(tzinfo=None))
        db = self._db()
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            written = db.execute(self.WRITE, params).rowcount == 1
            self._written = True
            return written
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc
        except sqlite3.Error as exc:
            raise DatabaseError(str(exc)) from exc
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def checkpoint_due(self) -> bool:
        return self._written and time.monotonic() - self._checkpointed >= self.CHECKPOINT_SECONDS

    def checkpoint(self) -> None:
        """Copy the WAL's committed pages into the database file, as far as no reader
        still needs them (PASSIVE: waits for no one). A failure loses nothing: the
        pages stay in the WAL for the next checkpoint."""
        self._checkpointed, self._written = time.monotonic(), False
        try:
            self._db().execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            logger.exception("tracking: WAL checkpoint failed")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def _store():
    """The store for this process: its own connection on PostgreSQL, Django's spoken to
    directly on SQLite, Django's cursor on anything else."""
    global _chosen
    if _chosen is None:
        vendor = connection.vendor
        if vendor == "postgresql":
            _chosen = PostgresStore()
        elif vendor == "sqlite":
            _chosen = SqliteStore()
        else:
            _chosen = events.DjangoStore()
    return _chosen


_chosen = None


def client_ip(environ: dict) -> str:
    from axes.helpers import get_client_ip_address  # the same rule as the login throttle

    return get_client_ip_address(_Meta(environ)) or ""


def _answer(start_response, status: str, body: bytes, headers: list) -> list[bytes]:
    start_response(status, [*headers, *_PLAIN, ("Content-Length", str(len(body)))])
    return [body]


def handle(environ: dict, start_response: Callable) -> Iterable[bytes]:
    path = environ.get("PATH_INFO", "")
    method = environ.get("REQUEST_METHOD", "GET")
    opened, clicked = _OPEN.match(path), _CLICK.match(path)
    if not (opened or clicked):
        return _answer(start_response, "404 Not Found", b"Not found\n", [_TEXT])
    if method not in ("GET", "HEAD"):
        return _answer(start_response, "405 Method Not Allowed", b"", [("Allow", "GET, HEAD")])
    ip = client_ip(environ)
    if not ratelimit.allowed(ip):
        return _answer(start_response, "429 Too Many Requests", b"Too many requests\n", [_TEXT])
    kind, token = ("open", opened.group(1)) if opened else ("click", clicked.group(1))
    try:
        user_agent = environ.get("HTTP_USER_AGENT", "")
        url = events.record(kind, token, ip=ip, user_agent=user_agent, store=_store())
    except DatabaseError:
        # The database is down or the connection broke: drop it, so that the next
        # load connects again; the reader still gets an image (a broken one helps no
        # one), a link has nowhere known to go.
        logger.exception("tracking: could not record a %s", kind)
        connection.close()
        if isinstance(_chosen, PostgresStore | SqliteStore):
            _chosen.close()
        if kind == "open":
            return _answer(start_response, "200 OK", PIXEL, [("Content-Type", "image/gif")])
        return _answer(start_response, "503 Service Unavailable", b"Try again\n", [_TEXT])
    if url is None or (kind == "click" and not url):
        answer = _answer(start_response, "404 Not Found", b"Not found\n", [_TEXT])
    elif kind == "open":
        answer = _answer(start_response, "200 OK", PIXEL, [("Content-Type", "image/gif")])
    else:
        answer = _answer(start_response, "302 Found", b"", [("Location", iri_to_uri(url))])
    if isinstance(_chosen, SqliteStore) and _chosen.checkpoint_due():
        return _ThenCheckpoint(answer, _chosen)
    return answer


class _ThenCheckpoint:
    """An answer, then a WAL checkpoint: the WSGI server calls close() once the answer
    is sent, so the loader does not wait for the checkpoint (PEP 3333)."""

    def __init__(self, body: list[bytes], store: SqliteStore):
        self._body, self._store = body, store

    def __iter__(self):
        return iter(self._body)

    def close(self) -> None:
        self._store.checkpoint()


def wrap(django_application: Callable) -> Callable:
    """The WSGI application: /t/... answered here, the rest by Django."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/t/"):
            return handle(environ, start_response)
        return django_application(environ, start_response)

    return application
