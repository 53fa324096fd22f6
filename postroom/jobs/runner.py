"""The embedded job runner: django-tasks-db's worker, woken when a job is queued."""

from collections.abc import Callable
from functools import partial

from django_tasks import DEFAULT_TASK_QUEUE_NAME
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand
from django_tasks_db.management.commands.db_worker import Worker

from postroom.lib.sqlite_wal import wal_kept_open

from .wakeup import Bell


class WakingWorker(Worker):
    """Worker.run sleeps `time.sleep(self.interval)` after a poll found nothing: here
    `interval` is read as a wait on the bell for up to the poll interval, and leaves
    nothing to sleep. Overriding the one attribute keeps the library's loop (claiming,
    locking, signals) as it is, rather than a copy of it to keep in step."""

    def __init__(self, bell: Bell, **kwargs) -> None:
        self.bell = bell
        super().__init__(**kwargs)

    @property
    def interval(self) -> float:
        self.bell.wait(self._poll)
        return 0

    @interval.setter
    def interval(self, seconds: float) -> None:
        self._poll = seconds


def drain(worker_id: str) -> None:
    """Run every job that is due, then return. No signal handlers are installed (as
    db_worker's would be, and stay after it returned): the caller keeps its own."""
    _worker(Worker, worker_id, poll=0.05, batch=True).run()


def run_embedded(worker_id: str, poll: float) -> None:
    """Run jobs until a signal stops the runner, as `db_worker --interval POLL` does."""
    DbWorkerCommand().configure_logging(verbosity=1)  # a line per job, as db_worker logs
    bell = Bell()
    worker = _worker(partial(WakingWorker, bell), worker_id, poll=poll, batch=False)
    worker.configure_signals()
    try:
        # The runner closes its connection after every job: on SQLite the last one to
        # close would checkpoint and fsync the whole WAL, once per job.
        with wal_kept_open():
            worker.run()
    finally:
        bell.close()


def _worker(make: Callable[..., Worker], worker_id: str, *, poll: float, batch: bool) -> Worker:
    return make(
        queue_names=[DEFAULT_TASK_QUEUE_NAME],
        interval=poll,
        batch=batch,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id=worker_id,
        excluded_queue_names=[],
    )
