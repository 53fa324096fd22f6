"""Webhook tests deliver to a real HTTP server on 127.0.0.1 that checks each signature
with the README's own verification example."""

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from postroom import jobs
from postroom.testing.dovecot import free_port
from postroom.testing.factories import UserFactory
from postroom.webhooks.emitting import forget_subscribers

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_verify():
    """The `verify` function of the README's Webhooks section, run as it is written."""
    text = README.read_text()
    section = text[text.index("\n## Webhooks\n") :]
    section = section[: section.index("\n## ", 1)]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace: dict = {}
    exec(compile(code, "README.md (Webhooks)", "exec"), namespace)  # noqa: S102 - our README
    return namespace["verify"]


@dataclass
class Received:
    headers: dict
    body: bytes
    verified: bool

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """An HTTP server that records every POST and whether its signature verified."""

    port: int
    secret: str = ""
    status: int = 200
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/postroom"

    def start(self) -> None:
        receiver = self
        verify = readme_verify()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ok = verify(receiver.secret, self.headers.get("Postroom-Signature", ""), body)
                with receiver.lock:
                    receiver.received.append(Received(dict(self.headers), body, ok))
                status = receiver.status if ok else 401
                answer = b"thanks " * 1000 if status == 200 else b"no"
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def events(self) -> list[str]:
        with self.lock:
            return [r.json["event"] for r in self.received]


@pytest.fixture
def receiver():
    server = Receiver(port=free_port())
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def loopback_allowed(settings):
    """The receiver is on 127.0.0.1: allowed explicitly, as an administrator would."""
    settings.WEBHOOKS = {
        **settings.WEBHOOKS,
        "ALLOWED_NETWORKS": ["127.0.0.0/8"],
        "RETRY_BASE": 0.05,
        "RETRY_CAP": 0.2,
    }


@pytest.fixture(autouse=True)
def fresh_subscribers_table():
    """Each test starts from its own subscriptions: a rolled-back test's are not seen."""
    forget_subscribers()


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


def run_jobs() -> None:
    """Run every job that is due on the embedded queue, then return."""
    jobs.drain_embedded_queue()
