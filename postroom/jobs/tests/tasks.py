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


@task()
def fail_first_runs(path: str, failures: int) -> None:
    """Writes a line to `path` each run, and raises in the first `failures` runs."""
    with open(path, "a") as log:
        log.write("run\n")
    runs = len(Path(path).read_text().splitlines())
    if runs <= failures:
        raise RuntimeError(f"run {runs} fails, as the test asked")
