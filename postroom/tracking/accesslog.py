"""gunicorn's logger for `postroom run`: the access log without the tracking endpoints.

A line per load of a tracking image or link would write down a recipient's IP address
and mail client, which Postroom otherwise never keeps (an event stores a digest of
them, compared and never shown: events.source_of), many lines per sent email. Leaving
them out also spares a load gunicorn's formatting and write of the line, about a
quarter of what the web server spends on it (bench/tracking_bench.py).
"""

from gunicorn.glogging import Logger


class AccessLog(Logger):
    def access(self, resp, req, environ, request_time) -> None:
        if environ.get("PATH_INFO", "").startswith("/t/"):
            return
        super().access(resp, req, environ, request_time)
