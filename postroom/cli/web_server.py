"""The web server's command line, in one place: `postroom run` starts it, and so does
the tracking endpoints' benchmark (bench/tracking_bench.py), which must measure the
server as it runs. No Django import here: the benchmark imports it before any setup."""

import sys


def gunicorn_command(bind: str, workers: int) -> list[str]:
    return [sys.executable, "-m", "gunicorn", "postroom.wsgi", "--bind", bind,
            "--workers", str(workers), "--access-logfile", "-",
            # The access log leaves out the tracking endpoints' loads (recipients'
            # addresses, a line per load; see postroom.tracking.accesslog).
            "--logger-class", "postroom.tracking.accesslog.AccessLog",
            "--graceful-timeout", "5",
            # Nothing here uses gunicornc; its socket would be one per user,
            # ~/.gunicorn/gunicorn.ctl, shared by every gunicorn they run.
            "--no-control-socket"]  # fmt: skip
