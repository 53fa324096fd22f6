"""The hostile-mail corpus through both ways in, against a running `postroom run`: every
email ends parsed or quarantined, exactly once, while the web keeps answering and no
process dies. Before the bounds, one email of 100,000 nested elements held the write
lock for minutes, the sync worker's heartbeat met "database is locked", and the whole
service stopped."""

import smtplib
import socket
import threading
import time
import urllib.request

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mail.models import Message
from postroom.testing import hostile
from postroom.testing.dovecot import free_port
from postroom.testing.factories import UserFactory
from postroom.testing.processes import running, wait_for

pytestmark = [pytest.mark.e2e]


class WebProbe(threading.Thread):
    """Asks for a page that reads the database, again and again, until stopped; keeps
    each answer's time and every failure."""

    def __init__(self, url: str, session: str) -> None:
        super().__init__(daemon=True)
        cookie = {"Cookie": f"sessionid={session}"}
        self.request = urllib.request.Request(url, headers=cookie)  # noqa: S310 - http only
        self.times: list[float] = []
        self.failures: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.25):
            start = time.monotonic()
            try:
                with urllib.request.urlopen(self.request, timeout=30) as response:  # noqa: S310
                    response.read()
                    if response.status != 200:
                        self.failures.append(f"HTTP {response.status}")
            except OSError as exc:
                self.failures.append(repr(exc))
            self.times.append(time.monotonic() - start)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return False
    return True


@pytest.mark.django_db(transaction=True)
def test_the_hostile_corpus_through_the_ingress_and_dovecot_stops_nothing(
    dovecot, mail_user, dovecot_mailbox, live_env, tmp_path
):
    web, ingress = free_port(), free_port()
    env = {**live_env, "POSTROOM_INGRESS_BIND": f"127.0.0.1:{ingress}"}
    admin = UserFactory(is_superuser=True)
    client = Client()
    client.force_login(admin)  # the session lives in the shared database
    url = f"http://127.0.0.1:{web}{reverse('web:mailbox', args=[dovecot_mailbox.pk])}"
    log = tmp_path / "run.log"
    args = ["run", "--bind", f"127.0.0.1:{web}", "--web-workers", "1"]
    with running(args, env, log) as run:
        wait_for(lambda: f"Listening at: http://127.0.0.1:{web}" in log.read_text(), 90, "web")
        wait_for(lambda: _accepts(ingress), 90, "the ingress")
        probe = WebProbe(url, client.cookies["sessionid"].value)
        probe.start()
        try:
            for kind, build in hostile.CORPUS.items():
                with smtplib.SMTP("127.0.0.1", ingress, timeout=120) as smtp:
                    smtp.sendmail(f"{kind}@hostile.test", [mail_user.address], build())
                dovecot.deliver(build(), to=mail_user.address, timeout=120)
            expected = 2 * len(hostile.CORPUS)

            def all_done() -> bool:
                assert run.poll() is None, log.read_text()[-5000:]
                stored = Message.objects.filter(copies__mailbox=dovecot_mailbox).distinct()
                return (
                    stored.count() >= expected
                    and not stored.filter(status=Message.Status.RECEIVED).exists()
                )

            wait_for(all_done, 280, "every hostile email to be parsed or quarantined")
        finally:
            probe.done.set()
            probe.join(60)
        printed = log.read_text()
    assert not probe.failures, probe.failures
    assert probe.times, "the web was never asked"
    assert "restarting it in" not in printed, printed[-5000:]  # no process died
    stored = Message.objects.filter(copies__mailbox=dovecot_mailbox).distinct()
    assert stored.count() == expected  # each once
    quarantined = stored.filter(status=Message.Status.QUARANTINED)
    assert all(message.error for message in quarantined)
    print(
        f"web answered {len(probe.times)} times during the corpus; slowest "
        f"{max(probe.times) * 1000:.0f} ms; quarantined: {quarantined.count()}"
    )
