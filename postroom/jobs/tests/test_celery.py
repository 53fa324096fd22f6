"""Jobs run on Celery workers, through a real Redis or RabbitMQ broker."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.test import override_settings

from postroom import pipeline
from postroom.crm.models import Lead
from postroom.jobs.celery_app import app
from postroom.jobs.tests.tasks import fail_first_runs
from postroom.mail.ingest import FetchedMessage, store_copy
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email
from postroom.testing.services import require_port

BROKERS = {
    "redis": ("redis://127.0.0.1:6379/15", 6379),
    "rabbitmq": ("amqp://guest:guest@127.0.0.1:5672//", 5672),
}


@pytest.fixture(params=sorted(BROKERS))
def celery_worker(request, live_env, tmp_path):
    url, port = BROKERS[request.param]
    require_port(port, request.param)
    prefix = f"postroom-test-{os.getpid()}"
    env = {**live_env, "POSTROOM_BROKER_URL": url, "POSTROOM_JOBS_QUEUE_PREFIX": prefix}
    proc = subprocess.Popen(
        [sys.executable, "-m", "postroom", "jobs", "--concurrency", "1"],
        env=env,
        stdout=(tmp_path / "celery.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with override_settings(
            BROKER_URL=url,
            JOBS_QUEUE_PREFIX=prefix,
            TASKS={"default": {"BACKEND": "postroom.jobs.celery_backend.CeleryBackend"}},
        ):
            app.conf.broker_url = url
            # Celery caches its connection and producer pools: drop those of the
            # previous test's broker.
            app._pool = None
            app.amqp._producer_pool = None
            yield proc, tmp_path / "celery.log"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.django_db(transaction=True)
def test_the_path_of_one_email_runs_on_a_celery_worker(celery_worker):
    worker, log = celery_worker
    mailbox = MailboxFactory(crm_rule="lead")
    copy = store_copy(
        mailbox.folders.get(), 1, FetchedMessage(uid=1, raw=make_email(sender="c@celery.test"))
    )
    pipeline.message_arrived(copy.message_id, mailbox.pk)
    deadline = time.monotonic() + 30
    while not Lead.objects.filter(email="c@celery.test").exists():
        assert worker.poll() is None, f"the Celery worker died:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the job did not run:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_a_job_that_raises_runs_again_on_the_celery_worker(celery_worker, tmp_path):
    worker, log = celery_worker
    runs = tmp_path / "runs"
    fail_first_runs.enqueue(str(runs), 1)
    deadline = time.monotonic() + 30
    while not runs.exists() or len(runs.read_text().splitlines()) < 2:
        assert worker.poll() is None, f"the Celery worker died:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"the job did not run again:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)
    assert "run 1 fails" in log.read_text()
