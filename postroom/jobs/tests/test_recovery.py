"""Jobs of the embedded queue whose runner died, or that raised, run again."""

import os
import signal
import socket
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from postroom.jobs.recovery import requeue_lost_jobs, retry_failed_jobs, runner_id
from postroom.jobs.tests.tasks import fail_first_runs, wait_for_file
from postroom.testing.processes import running, start_postroom, wait_for

HOST = socket.gethostname()[:40]


def _running_job(worker: str) -> DBTaskResult:
    result = wait_for_file.enqueue("/nonexistent", "/nonexistent")
    job = DBTaskResult.objects.get(pk=result.id)
    job.claim(worker)
    return job


def _status(job: DBTaskResult) -> str:
    job.refresh_from_db()
    return job.status


@pytest.mark.django_db
def test_the_job_of_a_runner_that_died_is_queued_again():
    dead = _running_job(f"{HOST}:{2**22 + 7}:12345")  # above the kernel's pid_max
    assert requeue_lost_jobs() == 1
    assert _status(dead) == TaskResultStatus.READY


@pytest.mark.django_db
def test_a_job_whose_runner_pid_now_belongs_to_another_process_is_queued_again():
    recycled = _running_job(f"{HOST}:{os.getpid()}:1")  # this pid, another start time
    assert requeue_lost_jobs() == 1
    assert _status(recycled) == TaskResultStatus.READY


@pytest.mark.django_db
def test_jobs_of_live_runners_and_of_runners_elsewhere_keep_running():
    live = _running_job(runner_id())
    elsewhere = _running_job("another-host:1:1")
    unnamed = _running_job("a1b2c3")  # a runner started without Postroom's name
    assert requeue_lost_jobs() == 0
    assert {_status(job) for job in (live, elsewhere, unnamed)} == {TaskResultStatus.RUNNING}


@pytest.mark.django_db(transaction=True)
def test_a_runner_killed_mid_job_has_its_job_run_by_the_next_runner(live_env, tmp_path):
    go, started = tmp_path / "go", tmp_path / "started"
    result = wait_for_file.enqueue(str(go), str(started))
    first = start_postroom(["jobs"], live_env, tmp_path / "first-runner.log")
    try:
        wait_for(started.exists, 60, "the first runner to start the job")
    finally:
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    job = DBTaskResult.objects.get(pk=result.id)
    assert job.status == TaskResultStatus.RUNNING  # as django-tasks-db leaves it

    go.touch()
    with running(["jobs"], live_env, tmp_path / "second-runner.log"):
        wait_for(
            lambda: _status(job) == TaskResultStatus.SUCCESSFUL,
            60,
            "the second runner to run the job again",
        )
    assert len(job.worker_ids) == 2


def _failed_job(runs: int, ago: timedelta) -> DBTaskResult:
    job = _running_job(runner_id())
    job.set_failed(RuntimeError("the database was locked"))
    DBTaskResult.objects.filter(pk=job.pk).update(
        worker_ids=[runner_id()] * runs, finished_at=timezone.now() - ago
    )
    return job


@pytest.mark.django_db
def test_a_failed_job_runs_again_a_minute_later_three_runs_in_all():
    again = _failed_job(runs=2, ago=timedelta(minutes=2))
    just_now = _failed_job(runs=1, ago=timedelta(seconds=5))
    spent = _failed_job(runs=3, ago=timedelta(minutes=2))
    assert retry_failed_jobs() == 1
    assert _status(again) == TaskResultStatus.READY
    assert {_status(just_now), _status(spent)} == {TaskResultStatus.FAILED}


@pytest.mark.django_db(transaction=True)
def test_a_job_that_failed_succeeds_when_the_next_runner_runs_it_again(live_env, tmp_path):
    runs = tmp_path / "runs"
    result = fail_first_runs.enqueue(str(runs), 1)
    job = DBTaskResult.objects.get(pk=result.id)
    with running(["jobs"], live_env, tmp_path / "first-runner.log"):
        wait_for(lambda: _status(job) == TaskResultStatus.FAILED, 60, "the first run to fail")
    DBTaskResult.objects.filter(pk=job.pk).update(finished_at=timezone.now() - timedelta(minutes=2))

    with running(["jobs"], live_env, tmp_path / "second-runner.log"):
        wait_for(lambda: _status(job) == TaskResultStatus.SUCCESSFUL, 60, "the job to run again")
    assert runs.read_text().splitlines() == ["run", "run"]
