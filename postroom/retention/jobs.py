"""Retention's jobs: thin, idempotent, the same on the database queue and on Celery."""

from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_tasks import task

from . import sweep
from .models import OrganisationRetention, RetentionRun

# The sweep runs once a day; the job runner's housekeeping asks every minute.
SWEEP_EVERY = timedelta(days=1)


@task()
def run_retention(run_id: int) -> None:
    """Carry out a run (or go on with one a dead runner left): batches it did already
    are not done again."""
    sweep.execute(run_id)


@task()
def compute_plan() -> None:
    """Compute the dry run the retention page shows (too slow for a page at scale)."""
    from . import saved_plan

    saved_plan.compute_and_save()


@task()
def retention_due() -> int | None:
    """Queue the daily sweep when a day has passed since the last one began. A run
    under way is left alone (a dead runner's job is queued again by the job runner's
    recovery); one that failed every attempt is queued again a day later, and goes on
    from where it stopped. Several runners asking at once queue one run."""
    now = timezone.now()
    with transaction.atomic():
        OrganisationRetention.objects.get_or_create(pk=1)
        # A write that changes nothing: the lock that makes this check-then-create one.
        OrganisationRetention.objects.filter(pk=1).update(days=F("days"))
        scheduled = RetentionRun.objects.filter(trigger=RetentionRun.Trigger.SCHEDULED)
        if scheduled.filter(created_at__gte=now - SWEEP_EVERY).exists():
            return None
        failed = sweep.unfinished_runs().filter(trigger=RetentionRun.Trigger.SCHEDULED).first()
        if failed is not None:
            RetentionRun.objects.filter(pk=failed.pk).update(created_at=now)
            transaction.on_commit(lambda: run_retention.enqueue(failed.pk))
            return failed.pk
        return sweep.request_run(RetentionRun.Trigger.SCHEDULED).pk
