"""A job that kills its runner, or fails, on every run ends FAILED after three runs
instead of bringing down every runner that takes it, for ever; what it carried is
quarantined or split, and administrators see it."""

import socket
from pathlib import Path

import pytest
from django.urls import reverse
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from postroom import pipeline
from postroom.jobs import ATTEMPTS
from postroom.jobs.recovery import RUNNER_DIED, requeue_lost_jobs
from postroom.jobs.tests.tasks import wait_for_file
from postroom.mail.ingest import FetchedMessage, store_copies
from postroom.mail.models import Message
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for
from postroom.testing.web import logged_in

HOST = socket.gethostname()[:40]
DEAD = f"{HOST}:{2**22 + 7}:12345"  # a pid above the kernel's pid_max: surely dead


def _stored(mailbox, count: int) -> list[int]:
    folder = mailbox.folders.get()
    fetched = [FetchedMessage(uid=i + 1, raw=make_email(subject=f"n{i}")) for i in range(count)]
    return store_copies(folder, 1, fetched)


def _died_under(job_result, runs: int) -> DBTaskResult:
    """The job as a runner that died mid-run left it, after `runs` runs."""
    DBTaskResult.objects.filter(pk=job_result.id).update(
        status=TaskResultStatus.RUNNING, worker_ids=[DEAD] * runs
    )
    return DBTaskResult.objects.get(pk=job_result.id)


@pytest.mark.django_db
def test_a_job_whose_runner_died_on_each_of_three_runs_is_given_up():
    job = _died_under(wait_for_file.enqueue("/nonexistent", "/nonexistent"), ATTEMPTS)
    assert requeue_lost_jobs() == 0
    job.refresh_from_db()
    assert job.status == TaskResultStatus.FAILED
    assert job.exception_class_path == RUNNER_DIED
    assert "died during each of its 3 runs" in job.traceback


@pytest.mark.django_db
def test_an_email_whose_ingest_never_finishes_is_quarantined_with_the_reason():
    mailbox = MailboxFactory()
    (message_id,) = _stored(mailbox, 1)
    _died_under(pipeline.ingest.enqueue([message_id], mailbox.pk), ATTEMPTS)
    requeue_lost_jobs()
    message = Message.objects.get(pk=message_id)
    assert message.status == Message.Status.QUARANTINED
    assert message.error.startswith("parsing did not finish: its job runner died")
    assert message.conversationmessage_set.filter(mailbox=mailbox).exists()  # shown in it


@pytest.mark.django_db
def test_a_batch_whose_ingest_never_finishes_goes_on_one_email_a_job():
    mailbox = MailboxFactory()
    ids = _stored(mailbox, 3)
    _died_under(pipeline.ingest.enqueue(ids, mailbox.pk), ATTEMPTS)
    requeue_lost_jobs()
    queued = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=pipeline.ingest.module_path
    )
    assert sorted(job.args_kwargs["args"][0] for job in queued) == [[pk] for pk in ids]
    assert not Message.objects.filter(pk__in=ids, status=Message.Status.QUARANTINED).exists()


@pytest.mark.django_db
def test_administrators_see_the_jobs_given_up_on_the_quarantine_page():
    job = _died_under(wait_for_file.enqueue("/nonexistent", "/nonexistent"), ATTEMPTS)
    requeue_lost_jobs()
    page = logged_in(UserFactory(is_superuser=True)).get(reverse("web:quarantine"))
    assert "Jobs given up" in page.content.decode()
    assert job.task_path in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_job_past_the_time_limit_ends_its_runner_and_counts_as_a_run(live_env, tmp_path):
    started = tmp_path / "started"
    result = wait_for_file.enqueue(str(tmp_path / "never"), str(started))
    env = {**live_env, "POSTROOM_JOB_TIME_LIMIT": "1"}
    log = tmp_path / "runner.log"
    with running(["jobs"], env, log) as runner:
        wait_for(started.exists, 60, "the runner to start the job")
        wait_for(lambda: runner.poll() is not None, 60, "the time limit to end the runner")
    assert "Timeout" in Path(log).read_text()  # faulthandler's traceback of the stuck job
    job = DBTaskResult.objects.get(pk=result.id)
    assert job.status == TaskResultStatus.RUNNING and len(job.worker_ids) == 1
    assert requeue_lost_jobs() == 1  # the next runner's housekeeping: a run spent
