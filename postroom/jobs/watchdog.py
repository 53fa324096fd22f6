"""The embedded job runner's time limit, and giving up a job's last failed run.

The limit cannot be an exception raised in the job: the steps that once ran away
(html5ever on a hostile email) run in native code, where a Python signal handler
never gets a turn. faulthandler's watchdog is a C thread that needs no GIL: past the
limit it writes every thread's traceback to stderr and ends the process. The job stays
RUNNING under a dead runner, and the next runner's housekeeping counts that as one of
its runs (jobs.recovery.requeue_lost_jobs); `postroom run` restarts the runner.
"""

import faulthandler
import sys

from django.conf import settings
from django_tasks.base import TaskResultStatus
from django_tasks.signals import task_finished, task_started

from postroom.jobs import ATTEMPTS, give_up


def _started(sender, task_result, **kwargs) -> None:
    faulthandler.dump_traceback_later(settings.JOB_TIME_LIMIT, exit=True, file=sys.stderr)


def _finished(sender, task_result, **kwargs) -> None:
    faulthandler.cancel_dump_traceback_later()
    if task_result.status == TaskResultStatus.FAILED and len(task_result.worker_ids) >= ATTEMPTS:
        error = task_result.errors[-1].traceback.strip().splitlines() if task_result.errors else []
        reason = f"it failed each of its {ATTEMPTS} runs: {error[-1] if error else 'no error'}"
        give_up(task_result.task.module_path, task_result.args, task_result.kwargs, reason)


def watch_jobs() -> None:
    """Time-limit each job this process runs, and give up those out of runs."""
    task_started.connect(_started, dispatch_uid="postroom.jobs.watchdog.started")
    task_finished.connect(_finished, dispatch_uid="postroom.jobs.watchdog.finished")
