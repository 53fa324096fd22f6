"""The WSGI fast path in front of Django (postroom.wsgi): the same answers as the
Django views, from the environ a WSGI server hands over."""

import io
import logging
import shutil
import sqlite3
from contextlib import closing
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from postroom.tracking import fastpath
from postroom.tracking.models import TrackingEvent

from .conftest import THUNDERBIRD, html_of, image_path, link_paths, send_offer

pytestmark = pytest.mark.django_db(transaction=True)


def _get(path: str, *, method: str = "GET", ip: str = "198.51.100.7", ua: str = THUNDERBIRD):
    answer = {}

    def start_response(status, headers):
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    environ = {"PATH_INFO": path, "REQUEST_METHOD": method, "REMOTE_ADDR": ip,
               "HTTP_USER_AGENT": ua, "wsgi.input": io.BytesIO()}  # fmt: skip
    body = b"".join(fastpath.handle(environ, start_response))
    return answer["status"], answer["headers"], body


@pytest.fixture
def html(sales, alice, smtp_server):
    send_offer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    yield html_of(mail)
    if isinstance(fastpath._chosen, fastpath.PostgresStore | fastpath.SqliteStore):
        fastpath._chosen.close()  # its own connection would hold the test database


def test_the_image_is_served_and_recorded_without_django(html):
    status, headers, body = _get(image_path(html))
    assert (status, headers["Content-Type"]) == (200, "image/gif")
    assert body.startswith(b"GIF89a")
    assert "Set-Cookie" not in headers and "no-store" in headers["Cache-Control"]
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.recipient, event.client) == (
        "open",
        "anna@customer.test",
        "thunderbird",
    )


def test_a_click_redirects_only_to_the_emails_link_and_counts_an_open(html):
    link = link_paths(html)[0]
    status, headers, _ = _get(link)
    assert (status, headers["Location"]) == (302, "https://shop.test/offer?id=7&lang=en")
    assert sorted(TrackingEvent.objects.values_list("kind", flat=True)) == ["click", "open"]
    for forged in [link[:-2], "/t/c/https://evil.test/", link.rsplit(":", 1)[0] + ":x"]:
        status, headers, body = _get(forged)
        assert (status, body) == (404, b"Not found\n") and "Location" not in headers


def test_a_repeat_is_not_counted_and_other_methods_are_refused(html):
    for _ in range(3):
        assert _get(image_path(html))[0] == 200
    assert TrackingEvent.objects.count() == 1
    assert _get(image_path(html), method="POST")[0] == 405
    assert _get("/t/elsewhere")[0] == 404


def test_the_fast_path_is_rate_limited_per_ip(html, settings):
    from django.core.cache import cache

    cache.clear()
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_RATE_PER_MINUTE": 2}
    codes = [_get(image_path(html), ip="192.0.2.5")[0] for _ in range(3)]
    assert codes == [200, 200, 429]


def test_the_store_is_the_endpoints_own_per_database():
    expected = {"postgresql": fastpath.PostgresStore, "sqlite": fastpath.SqliteStore}
    assert isinstance(fastpath._store(), expected[connection.vendor])


def test_the_wal_is_checkpointed_after_an_answer_never_inside_a_write(html, monkeypatch, tmp_path):
    """On SQLite the endpoints' writes never run SQLite's automatic checkpoint (its
    fsyncs under the write lock made every web process wait); a load copies the WAL
    into the database file after its answer is sent (the WSGI server's close()), at
    most every CHECKPOINT_SECONDS. Nothing of the kind on PostgreSQL."""
    seen = []

    def load(path: str):
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "REMOTE_ADDR": "198.51.100.7",
                   "HTTP_USER_AGENT": f"{THUNDERBIRD} {len(seen)}"}  # fmt: skip
        seen.append(path)
        return fastpath.handle(environ, lambda status, headers: None)

    def events_in_the_database_file() -> int:
        """The events in the database file alone, without what is still in its WAL."""
        copy = tmp_path / f"copy-{len(seen)}.sqlite3"
        shutil.copyfile(connection.settings_dict["NAME"], copy)
        with closing(sqlite3.connect(copy)) as db:
            return db.execute("SELECT count(*) FROM tracking_trackingevent").fetchone()[0]

    monkeypatch.setattr(fastpath.SqliteStore, "CHECKPOINT_SECONDS", 3600.0)
    first = load(image_path(html))
    assert not hasattr(first, "close")  # no checkpoint due: a plain answer
    if connection.vendor != "sqlite":
        assert isinstance(fastpath._store(), fastpath.PostgresStore)
        return
    assert fastpath._store()._db().execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    assert events_in_the_database_file() == 0  # committed, in the WAL

    monkeypatch.setattr(fastpath.SqliteStore, "CHECKPOINT_SECONDS", 0.0)
    later = load(link_paths(html)[0])
    assert b"".join(later) == b""  # the redirect, answered in full before close()
    assert events_in_the_database_file() == 0
    later.close()  # as the WSGI server does once the answer is sent
    assert events_in_the_database_file() == 3  # the open, then a click and its open
    assert TrackingEvent.objects.count() == 3


def test_an_event_written_directly_to_sqlite_reads_back_as_djangos(html):
    """SqliteStore writes its datetimes as Django would: the ORM reads the same time."""
    before = timezone.now()
    _get(image_path(html))
    [event] = TrackingEvent.objects.all()
    assert before <= event.at <= timezone.now()


def test_the_access_log_leaves_out_the_tracking_endpoints():
    from gunicorn.config import Config

    from postroom.tracking.accesslog import AccessLog

    lines = []
    log = AccessLog(Config())
    log.access_log.handlers = []
    log.access_log.addHandler(logging.Handler())
    log.access_log.handlers[0].emit = lambda record: lines.append(record.getMessage())
    log.access_log.setLevel(logging.INFO)
    log._access_log_enabled = True

    class Response:
        status, headers, sent, response_length = "200 OK", [], 0, 0

    class Request:
        headers = []

    for path in ["/t/o/abc.gif", "/inbox/"]:
        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "RAW_URI": path,
                   "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "198.51.100.7"}  # fmt: skip
        log.access(Response(), Request(), environ, timedelta(milliseconds=1))
    assert len(lines) == 1 and "/inbox/" in lines[0] and "198.51.100.7" in lines[0]


def test_an_event_writes_one_index_per_lookup_not_a_second_by_email():
    """The foreign key has no index of its own: tracking_event_source starts with the
    email and serves its lookups (the repeat check, the conversation's counts, the
    cascade), so a load writes the table and two indexes, not three."""
    table = TrackingEvent._meta.db_table
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    by_email = {
        name: info["columns"]
        for name, info in found.items()
        if info["index"] and not info["primary_key"] and info["columns"][0] == "email_id"
    }
    assert by_email == {"tracking_event_source": ["email_id", "source", "at"]}
