"""Running the embedded queue's jobs in the caller's process (`sync --once`, tests)."""

import signal

import pytest

from postroom import jobs
from postroom.jobs.tests.tasks import fail_first_runs


@pytest.mark.django_db(transaction=True)
def test_draining_the_queue_runs_its_jobs_and_leaves_the_callers_signal_handlers(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    fail_first_runs.enqueue(str(tmp_path / "log"), 0)
    jobs.drain_embedded_queue()
    assert (tmp_path / "log").read_text() == "run\n"
    assert signal.getsignal(signal.SIGTERM) is before
