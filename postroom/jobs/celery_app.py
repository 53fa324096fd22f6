"""The Celery application, used only when POSTROOM_BROKER_URL is set.

Start workers with `postroom jobs` (or `postroom worker`, which also syncs).
"""

import os

from celery import Celery

from postroom.jobs import ATTEMPTS, give_up

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")

app = Celery("postroom")
# Read lazily from Django's settings (CELERY_* names), so tests can override them.
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(
    bind=True,
    name="postroom.run_job",
    autoretry_for=(Exception,),
    max_retries=ATTEMPTS - 1,
    retry_backoff=True,  # about 1, then 2 seconds (with jitter)
)
def run_job(self, task_path: str, args: list, kwargs: dict) -> None:
    from django.utils.module_loading import import_string

    try:
        import_string(task_path).call(*args, **kwargs)
    except Exception as exc:  # the soft time limit's SoftTimeLimitExceeded too
        if self.request.retries >= self.max_retries:
            give_up(task_path, args, kwargs, f"it failed each of its {ATTEMPTS} runs: {exc!r}")
        raise
