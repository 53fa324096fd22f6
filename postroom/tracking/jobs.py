"""Tracking's jobs: thin, idempotent, the same on the database queue and on Celery."""

from django_tasks import task

from . import retention


@task()
def prune_events() -> int:
    """Delete opens and clicks older than POSTROOM_TRACKING_KEEP_DAYS; the job runner's
    housekeeping queues it every hour."""
    return retention.prune()
