"""Jobs for the job runner's own tests."""

import time
from pathlib import Path

from django_tasks import task


@task()
def wait_for_file(path: str, started: str) -> None:
    """Says it started (creates `started`), then runs until `path` exists: a job that is
    surely running when the test kills its runner. Bounded: it gives up after a minute."""
    Path(started).touch()
    deadline = time.monotonic() + 60
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.05)
