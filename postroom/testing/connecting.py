"""Connecting a mailbox through its page in tests: the job that logs in, run on the spot,
and listeners that are not IMAP servers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator

from django.test import Client
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from postroom.mailboxes.models import ConnectionCheck


def run_jobs() -> None:
    """Run, in this thread and transaction, every job that is due on the embedded queue
    (the `db_worker` command would close the test's database connection)."""
    for result in DBTaskResult.objects.ready().order_by("enqueued_at"):
        result.claim("test")
        args = result.args_kwargs
        result.set_successful(result.task.call(*args["args"], **args["kwargs"]))


def connect_through(client: Client, url: str, form: dict):
    """POST the connect form; when it started a check, run its job and open the check's
    page as the browser would once it is over. The last response and the check (None
    when the form was refused)."""
    response = client.post(url, form)
    check = ConnectionCheck.objects.order_by("-pk").first()
    if response.status_code != 302 or check is None:
        return response, None
    assert response["Location"] == reverse("web:connection_check", args=[check.pk])
    run_jobs()
    check.refresh_from_db()
    return client.get(response["Location"]), check


class Listener:
    """A TCP listener on a free loopback port that is no IMAP server: it sends
    `greeting` (nothing at all if empty) to every connection, then keeps it open until
    the client goes. `accepted` counts connections."""

    def __init__(self, greeting: bytes = b"") -> None:
        self.greeting = greeting
        self.accepted = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)
            with contextlib.suppress(OSError):
                if self.greeting:
                    conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()


@contextlib.contextmanager
def listening(greeting: bytes = b"") -> Iterator[Listener]:
    listener = Listener(greeting)
    try:
        yield listener
    finally:
        listener.close()
