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
    """On SQLite, Django's own connection (its pragmas: WAL, synchronous=NORMAL) spoken
    to directly, with the statements in sqlite3's "?" style, which its statement cache
    keeps compiled: Django's cursor wrapper rewrote the query and adapted each value,
    a third of a load's CPU.

    The web server's processes write one at a time under an flock of their own. SQLite
    lets only one writer in; another waiting for it would sleep in SQLite's busy
    handler, 1, 2, 5, 10, ... ms at a time and blind to the lock coming free, which
    made a tail of 100-300 ms under load. The flock wakes the next process as soon as
    the write is done (a few microseconds). Other Postroom processes (jobs, sync) do not
    take it; against them SQLite's busy timeout still applies, as everywhere."""

    LOAD = events.LOAD_SQL.replace("%s", "?")
    WRITE = events.WRITE_SQL.replace("%s", "?")

    def __init__(self) -> None:
        self._lock_fd = -1
        self._pid = 0

    def _lock(self) -> int:
        if self._lock_fd < 0 or self._pid != os.getpid():
            path = settings.DATA_DIR / "tracking-write.lock"
            self._lock_fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._lock_fd

    def _db(self):
        connection.ensure_connection()
        return connection.connection

    def load(self, email_id: int):
        return self._db().execute(self.LOAD, (email_id,)).fetchone()

    def write(self, params: list) -> bool:
        # As Django stores an aware datetime in SQLite: UTC, naive, str().
        for i in (4, 13):
            params[i] = str(params[i].astimezone(UTC).replace(tzinfo=None))
        db = self._db()
        lock = self._lock()
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return db.execute(self.WRITE, params).rowcount == 1
        except Exception as exc:
            import sqlite3

            if isinstance(exc, sqlite3.IntegrityError):
                raise IntegrityError(str(exc)) from exc
            if isinstance(exc, sqlite3.Error):
                raise DatabaseError(str(exc)) from exc
            raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def close(self) -> None:
        connection.close()


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
        return _answer(start_response, "404 Not Found", b"Not found\n", [_TEXT])
    if kind == "open":
        return _answer(start_response, "200 OK", PIXEL, [("Content-Type", "image/gif")])
    return _answer(start_response, "302 Found", b"", [("Location", iri_to_uri(url))])


def wrap(django_application: Callable) -> Callable:
    """The WSGI application: /t/... answered here, the rest by Django."""

    def application(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith("/t/"):
            return handle(environ, start_response)
        return django_application(environ, start_response)

    return application
