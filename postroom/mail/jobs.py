"""The workflow's jobs: thin, idempotent, the same on the database queue and on Celery."""

from django_tasks import task

from . import workflow


@task()
def wake_snoozed(conversation_id: int) -> bool:
    """Bring a snoozed conversation back when its time comes (a stale job, of a snooze
    since changed, does nothing)."""
    return workflow.wake_if_due(conversation_id)


@task()
def wake_overdue() -> int:
    """Wake every conversation whose snooze is over; the job runner's housekeeping runs
    it every minute, so a snooze ends even when its job was lost with a dead runner."""
    return workflow.wake_overdue()
