"""The accounts' jobs: thin, the same on the database queue and on Celery."""

from django_tasks import task

from . import notify


@task()
def send_notification_email(email_id: int) -> str:
    """Send one notification email once (a re-run of a sent one sends nothing)."""
    return notify.send_email(email_id)


@task()
def recover_notification_emails() -> int:
    """Queue again the notification emails whose job was lost; safe at any time."""
    return notify.requeue_stalled()
