"""The webhooks' jobs: thin, the same on the database queue and on Celery."""

from django_tasks import task

from . import delivery


@task()
def deliver_webhook(delivery_id: int) -> None:
    """One attempt of a delivery; a failure schedules the next one itself."""
    delivery.deliver(delivery_id)


@task()
def recover_webhooks() -> int:
    """Queue again deliveries whose job was lost or whose attempt died; safe at any time."""
    return delivery.sweep()
