"""Jobs of the embedded queue that a dead job runner left half-done, or that failed,
handed back.

django-tasks-db marks a job RUNNING when a runner claims it and never looks at it
again: a runner killed mid-job (kill -9, out of memory, a power cut) would leave it
RUNNING for ever, and the emails it carried stored but never parsed, or parsed but
never in the CRM. (Celery hands such a job to another worker by itself: it is
acknowledged only after it ran.) So each runner names itself by host, pid and the
pid's start time, and any runner on the same host can tell a dead runner's jobs from
a live one's. Jobs are idempotent: one that died half-way runs again from the start.
A job that raised runs again a minute later, up to ATTEMPTS runs in all.
"""

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from postroom.jobs import ATTEMPTS, give_up
from postroom.lib.processes import is_running, start_time

logger = logging.getLogger(__name__)

# django-tasks-db takes worker ids of at most 64 characters.
_HOST_CHARS = 40
# The exception a job is failed with when its runner died under it each run.
RUNNER_DIED = "postroom.jobs.RunnerDied"
# A failed job waits this long before it runs again: what made it fail may pass.
RETRY_AFTER = timedelta(minutes=1)


def runner_id() -> str:
    """This process's name as a job runner: host:pid:start time."""
    pid = os.getpid()
    return f"{socket.gethostname()[:_HOST_CHARS]}:{pid}:{start_time(pid)}"


def _is_dead(runner: str, host: str) -> bool:
    """A runner of this host that is gone; a runner of another host (or one named
    otherwise) cannot be checked from here, and counts as alive."""
    parts = runner.rsplit(":", 2)
    if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
        return False
    return not is_running(int(parts[1]), parts[2])


def requeue_lost_jobs() -> int:
    """Put the jobs of dead runners of this host back in the queue; how many.

    A run under a runner that died counts as a run: a job that killed its runner (out
    of memory, past the time limit) ATTEMPTS times is given up, not queued again, or
    it would bring down every runner that takes it, for ever.
    """
    if start_time(os.getpid()) is None:
        return 0  # no /proc (not Linux): no runner can be told dead, none is
    host = socket.gethostname()[:_HOST_CHARS]
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING)
    lost = {
        job.pk: len(job.worker_ids)
        for job in running.only("worker_ids")
        if job.worker_ids and _is_dead(job.worker_ids[-1], host)
    }
    if not lost:
        return 0
    _give_up_lost(running.filter(pk__in=[pk for pk, runs in lost.items() if runs >= ATTEMPTS]))
    # Only those still RUNNING: one may have finished (or been re-queued) meanwhile.
    requeued = running.filter(pk__in=[pk for pk, runs in lost.items() if runs < ATTEMPTS]).update(
        status=TaskResultStatus.READY, started_at=None
    )
    if requeued:
        logger.warning("%s job(s) of a job runner that died were queued again", requeued)
    return requeued


def _give_up_lost(jobs) -> None:
    for job in jobs.only("task_path", "args_kwargs", "worker_ids"):
        reason = (
            f"its job runner died during each of its {len(job.worker_ids)} runs (killed, out "
            f"of memory, or past the time limit of {settings.JOB_TIME_LIMIT} s)"
        )
        failed = jobs.filter(pk=job.pk).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path=RUNNER_DIED,
            traceback=reason,
        )
        if failed:
            give_up(job.task_path, job.args_kwargs["args"], job.args_kwargs["kwargs"], reason)


def gave_up(limit: int = 100) -> list[DBTaskResult]:
    """The newest jobs of the embedded queue that will not run again, for admins."""
    jobs = DBTaskResult.objects.filter(status=TaskResultStatus.FAILED).order_by("-finished_at")
    return [job for job in jobs[: limit * 2] if len(job.worker_ids) >= ATTEMPTS][:limit]


def retry_failed_jobs() -> int:
    """Queue again the jobs that raised a while ago and have runs left; how many."""
    failed = DBTaskResult.objects.filter(
        status=TaskResultStatus.FAILED, finished_at__lte=timezone.now() - RETRY_AFTER
    )
    # A run is a claim: the runners that took the job are its runs so far.
    again = [job.pk for job in failed.only("worker_ids") if len(job.worker_ids) < ATTEMPTS]
    if not again:
        return 0
    retried = failed.filter(pk__in=again).update(
        status=TaskResultStatus.READY, started_at=None, finished_at=None
    )
    if retried:
        logger.warning("%s failed job(s) queued to run again", retried)
    return retried
