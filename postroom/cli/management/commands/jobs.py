import logging
import threading

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from postroom import jobs
from postroom.accounts.jobs import recover_notification_emails
from postroom.jobs.recovery import requeue_lost_jobs, retry_failed_jobs, runner_id
from postroom.jobs.runner import run_embedded
from postroom.jobs.watchdog import watch_jobs
from postroom.mail.jobs import wake_overdue
from postroom.outbound.jobs import recover_outbox
from postroom.pipeline import recover_fetched
from postroom.retention.jobs import retention_due
from postroom.routing.jobs import sweep_sla
from postroom.tracking.jobs import prune_events
from postroom.webhooks.jobs import recover_webhooks

logger = logging.getLogger(__name__)

# Seconds between housekeeping rounds: jobs lost with a dead runner are queued again.
HOUSEKEEPING_EVERY = 60.0
# Rounds between prunes of old tracking events (hourly; the first round prunes too).
PRUNE_EVERY_ROUNDS = 60


def _housekeeping(stop: threading.Event) -> None:
    """Periodic, idempotent jobs; several runners doing this at once is harmless. The
    first round runs at start: a runner restarted after a crash recovers at once what
    its predecessor left."""
    rounds = 0
    while True:
        close_old_connections()
        try:
            if not jobs.uses_celery():
                requeue_lost_jobs()
                retry_failed_jobs()
            recover_outbox.enqueue()
            recover_fetched.enqueue()
            wake_overdue.enqueue()  # snoozes that ended while no runner ran
            sweep_sla.enqueue()  # reply deadlines that came, also while no runner ran
            recover_notification_emails.enqueue()
            if rounds % PRUNE_EVERY_ROUNDS == 0:
                prune_events.enqueue()  # opens and clicks past POSTROOM_TRACKING_KEEP_DAYS
            recover_webhooks.enqueue()  # webhook deliveries whose job was lost
            retention_due.enqueue()  # the daily retention sweep, when a day has passed
        except Exception:  # noqa: BLE001 - the next round tries again; never kill the runner
            logger.exception("housekeeping failed")
        finally:
            close_old_connections()
        rounds += 1
        if stop.wait(HOUSEKEEPING_EVERY):
            return


class Command(BaseCommand):
    help = "Run the job runner: the embedded database queue, or Celery with a broker."

    def add_arguments(self, parser):
        parser.add_argument("--concurrency", type=int, default=2, help="Celery only")

    def handle(self, *args, concurrency, **options):
        stop = threading.Event()
        threading.Thread(target=_housekeeping, args=(stop,), daemon=True).start()
        try:
            self.run_jobs(concurrency)
        finally:
            stop.set()

    def run_jobs(self, concurrency: int) -> None:
        if jobs.uses_celery():
            from django_tasks import DEFAULT_TASK_QUEUE_NAME

            from postroom.jobs.celery_app import app
            from postroom.jobs.celery_backend import celery_queue

            app.worker_main(
                [
                    "worker",
                    "--loglevel=INFO",
                    f"--concurrency={concurrency}",
                    f"--queues={celery_queue(DEFAULT_TASK_QUEUE_NAME)}",
                    "--without-gossip",
                    "--without-mingle",
                ]
            )
        else:
            watch_jobs()
            # Woken when a job is queued on this machine (jobs.wakeup); the short poll
            # is the fallback, for jobs due later and for runners elsewhere.
            run_embedded(runner_id(), poll=0.05)
