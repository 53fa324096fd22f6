"""The Outbox's jobs: thin, idempotent, the same on the database queue and on Celery."""

from django_tasks import task

from . import bounces, delivery


@task()
def deliver_outbox(outbox_id: int) -> None:
    """One attempt to send an Outbox email; it schedules its own retry."""
    delivery.deliver(outbox_id)


@task()
def save_sent(outbox_id: int) -> None:
    """File a sent email: the server's Sent folder, its conversation, the CRM."""
    delivery.save_sent(outbox_id)


@task()
def recover_outbox() -> int:
    """Re-enqueue emails whose job was lost (a dead worker), and link bounces that were
    stored in bulk; safe to run at any time."""
    return delivery.requeue_stalled() + bounces.link_pending_bounces()
