from django.apps import AppConfig


class CliConfig(AppConfig):
    name = "postroom.cli"
    label = "cli"

    def ready(self) -> None:
        from django_tasks.signals import task_enqueued
        from django_tasks_db import DatabaseBackend

        from postroom.jobs.wakeup import ring_on_commit

        from . import checks  # noqa: F401  (registers the system checks)

        # Every process that queues a job wakes the embedded runner (the `jobs` command).
        task_enqueued.connect(ring_on_commit, sender=DatabaseBackend)
