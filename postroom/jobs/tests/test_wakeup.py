"""The embedded job runner is woken when a job is queued, once the job can be seen."""

import pytest
from django.db import transaction

from postroom.jobs.tests.tasks import fail_first_runs
from postroom.jobs.wakeup import Bell, bells_dir, ring
from postroom.testing.processes import running, wait_for


@pytest.fixture
def bell(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    bell = Bell()
    yield bell
    bell.close()


@pytest.mark.django_db(transaction=True)
def test_a_queued_job_rings_the_runner_once_its_transaction_commits(bell, tmp_path):
    with transaction.atomic():
        fail_first_runs.enqueue(str(tmp_path / "log"), 0)
        assert not bell.wait(0), "rung before the job could be seen"
    assert bell.wait(0)
    assert not bell.wait(0), "one ring, consumed"


def test_rings_while_the_runner_is_busy_wake_it_once(bell):
    for _ in range(1000):  # more than a socket's buffer holds: the rest are dropped
        ring()
    assert bell.wait(0)
    assert not bell.wait(0)


def test_the_bell_of_a_runner_that_died_is_removed_by_the_next_ring(settings, tmp_path):
    settings.DATA_DIR = tmp_path
    dead = Bell()
    dead.sock.close()  # died without closing its bell: the file stays, nobody listens
    dead.sock = None
    ring()
    assert not dead.path.exists()


def test_a_runner_whose_bell_cannot_be_made_polls(settings, tmp_path):
    settings.DATA_DIR = tmp_path / ("x" * 120)  # longer than a Unix socket's path
    bell = Bell()
    assert bell.sock is None
    assert not bell.wait(0)


@pytest.mark.django_db(transaction=True)
def test_the_job_runner_listens_and_removes_its_bell_when_stopped(live_env, tmp_path):
    done = tmp_path / "done"
    with running(["jobs"], live_env, tmp_path / "runner.log") as runner:
        bell = bells_dir() / f"jobs-{runner.pid}.sock"
        wait_for(bell.exists, 30, "the runner's bell")
        fail_first_runs.enqueue(str(done), 0)
        wait_for(done.exists, 30, "the job to run")
    assert not bell.exists()
