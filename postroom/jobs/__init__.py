"""One interface for jobs: Django's Tasks API (the django-tasks backport).

Code declares jobs with `@task` and calls `.enqueue()`; settings choose the runner:
the database queue of django-tasks-db when embedded, Celery when
POSTROOM_BROKER_URL names a Redis or RabbitMQ broker.
"""

from django.conf import settings
from django.core.management import call_command

# Runs of a job that raises, in all: jobs fail for what passes (a database locked too
# long, a full disk, a broker restarting) as well as for bugs, and every job is
# idempotent, so running one again is safe. Celery retries with backoff; the embedded
# queue at the next housekeeping round (`postroom.jobs.recovery`).
ATTEMPTS = 3


def uses_celery() -> bool:
    return bool(settings.BROKER_URL)


def drain_embedded_queue() -> None:
    """Run every job waiting in the embedded queue, then return (for `sync --once`)."""
    if not uses_celery():
        # Here, not above: the Celery app imports this package before Django's models.
        from postroom.jobs.recovery import runner_id

        call_command(
            "db_worker",
            batch=True,
            interval=0.05,
            startup_delay=False,
            worker_id=runner_id(),
            verbosity=0,
        )
