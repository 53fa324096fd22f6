"""Routing's jobs: thin, idempotent, the same on the database queue and on Celery."""

from django_tasks import task

from . import sla


@task()
def sweep_sla() -> dict:
    """Raise the reply deadlines that came (due soon, breached, escalated); the job
    runner's housekeeping queues it every minute, so a deadline that passed while no
    runner ran is raised when one comes back."""
    return sla.sweep()
