"""One interface for jobs: Django's Tasks API (the django-tasks backport).

Code declares jobs with `@task` and calls `.enqueue()`; settings choose the runner:
the database queue of django-tasks-db when embedded, Celery when
POSTROOM_BROKER_URL names a Redis or RabbitMQ broker.
"""

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

# Runs of a job that raises, in all: jobs fail for what passes (a database locked too
# long, a full disk, a broker restarting) as well as for bugs, and every job is
# idempotent, so running one again is safe. Celery retries with backoff; the embedded
# queue at the next housekeeping round (`postroom.jobs.recovery`).
ATTEMPTS = 3

# A job's path -> what to do when it is given up (`on_give_up`).
_GIVE_UP: dict[str, Callable[..., None]] = {}


def on_give_up(job: Any) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register what to do when `job` has failed ATTEMPTS runs (raised, or its runner
    died under it): called with the job's arguments and `reason=`, e.g. to quarantine
    the emails it carried, so that nothing waits for ever on a job that will not run."""

    def register(handler: Callable[..., None]) -> Callable[..., None]:
        _GIVE_UP[job.module_path] = handler
        return handler

    return register


def give_up(job_path: str, args: list, kwargs: dict, reason: str) -> None:
    """A job will not run again: say so in the log, and run its give-up handler."""
    logger.error("job %s%s given up after %s runs: %s", job_path, tuple(args), ATTEMPTS, reason)
    try:
        import_string(job_path)  # its module registers the handler
        handler = _GIVE_UP.get(job_path)
        if handler is not None:
            handler(*args, reason=reason, **kwargs)
    except Exception:  # noqa: BLE001 - the caller is the runner's housekeeping: never kill it
        logger.exception("the give-up handler of job %s failed", job_path)


def uses_celery() -> bool:
    return bool(settings.BROKER_URL)


def drain_embedded_queue() -> None:
    """Run every job waiting in the embedded queue, then return (for `sync --once`)."""
    if not uses_celery():
        # Here, not above: the Celery app imports this package before Django's models.
        from postroom.jobs.recovery import runner_id
        from postroom.jobs.runner import drain

        drain(runner_id())
