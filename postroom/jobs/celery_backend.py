"""A django-tasks backend that hands jobs to Celery.

Written by hand because the published adapter (django-tasks-celery) needs
Python 3.12. Every job travels as one generic Celery task carrying the job's
import path, so that jobs stay plain `@task` functions and no code knows which
runner executes them.
"""

from django.conf import settings
from django.db import transaction
from django_tasks.backends.base import BaseTaskBackend
from django_tasks.base import Task, TaskResult, TaskResultStatus
from django_tasks.utils import get_random_id, normalize_json


class CeleryBackend(BaseTaskBackend):
    supports_defer = True

    def enqueue(self, task: Task, args, kwargs) -> TaskResult:
        self.validate_task(task)
        from .celery_app import app

        result = TaskResult(
            task=task,
            id=get_random_id(),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=normalize_json(args),
            kwargs=normalize_json(kwargs),
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        options = {"task_id": result.id, "queue": celery_queue(task.queue_name)}
        if task.run_after is not None:
            options["eta"] = task.run_after
        # Send only once the transaction that asked for the job commits: a worker must
        # never see a job whose data is not in the database yet (or never will be).
        transaction.on_commit(
            lambda: app.send_task(
                "postroom.run_job",
                args=[task.module_path, result.args, result.kwargs],
                **options,
            )
        )
        return result


def celery_queue(queue_name: str) -> str:
    return f"{settings.JOBS_QUEUE_PREFIX}.{queue_name}"
