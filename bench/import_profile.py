"""`python -m bench.import_profile ADDRESS OUT.json`: `postroom sync ADDRESS --once` run
in this process with a timer on each step of the path of one email, for bench import.

The steps are the functions the pipeline calls, timed where it calls them (module
attributes replaced by a timing wrapper before the command runs): the sync's fetch and
store, then the jobs it queued: record, read the raw bytes, parse, the HTML's text
(what sanitising costs at ingest: the index reads the visible text of HTML-only mail),
the index's words, the parsed rows and attachments written, threading, the index rows
written, webhooks, the conversations' wait clocks, and CRM capture (senders resolved,
items made, activities), the distribution rules, SLA clocks and auto-replies. What no
step holds (the job runner, commits) is the rest. A wrapper costs about a microsecond a
call: the import is timed with them on, in the same run as mbsync.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections import defaultdict
from typing import Any

SPENT: dict[str, float] = defaultdict(float)
CALLS: dict[str, int] = defaultdict(int)

# (step, module, attribute path) in the order of the path of one email; a step inside
# another is named with its parent first ("ingest > parse").
STEPS = [
    ("jobs", "postroom.jobs", "drain_embedded_queue"),
    ("record", "postroom.pipeline", "record_batch"),
    ("ingest", "postroom.pipeline", "ingest_messages"),
    ("ingest > read raw", "postroom.mail.ingest", "rawstore.get_many"),
    ("ingest > parse (what the job waits for)", "postroom.mail.ingest", "ahead.parse_all"),
    ("ingest > index words (HTML to text)", "postroom.mail.search", "html_text"),
    ("ingest > index words (parsed in the job)", "postroom.mail.ingest", "indexed_bodies"),
    ("ingest > write parsed and attachments", "postroom.mail.ingest", "_write_parsed"),
    ("ingest > thread", "postroom.mail.ingest", "thread_messages"),
    ("ingest > webhooks", "postroom.mail.ingest", "webhooks.emit"),
    ("ingest > index rows", "postroom.mail.ingest", "index_messages"),
    ("wait clocks (mail_threaded)", "postroom.pipeline", "mail_threaded"),
    ("capture > rules loaded", "postroom.pipeline", "Router.load"),
    ("capture > rules prepared", "postroom.pipeline", "Router.prepare"),
    ("capture > CRM capture", "postroom.pipeline", "capture_messages"),
    ("capture > assign", "postroom.pipeline", "Router.assign_conversations"),
    ("capture > SLA clocks", "postroom.pipeline", "sla.start_clocks"),
    ("capture > auto-replies", "postroom.pipeline", "auto_reply"),
]


def _timed(step: str, original: Any) -> Any:
    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[step] += time.perf_counter() - started
            CALLS[step] += 1

    return wrapper


def install() -> None:
    import importlib

    for step, module_name, path in STEPS:
        owner: Any = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        # A class's own attribute (not a bound method): Router.load stays a classmethod.
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        if isinstance(original, classmethod):
            setattr(owner, name, classmethod(_timed(step, original.__func__)))
        else:
            setattr(owner, name, _timed(step, original))


def main(argv: list[str]) -> None:
    address, out = argv

    from postroom.lib.datadir import restrict_umask

    restrict_umask()  # as `python -m postroom` does, before anything creates a file
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    install()
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("sync", address, "--once")
    total = time.perf_counter() - started
    steps = {step: {"seconds": SPENT[step], "calls": CALLS[step]} for step, _, _ in STEPS}
    with open(out, "w") as file:
        json.dump({"total": total, "steps": steps, "workers_cpu": _workers_cpu()}, file)


def _workers_cpu() -> float:
    """CPU seconds of the parsing processes (mail/ahead.py), read while they still run:
    they are the forkserver's children, not this process's, so wait4() misses them."""
    from postroom.mail import ahead

    pool = ahead._AHEAD.pool
    seconds = 0.0
    for pid in list(getattr(pool, "_processes", None) or {}):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        # utime and stime: fields 14 and 15 of stat, 12 and 13 after the command name.
        seconds += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


if __name__ == "__main__":
    main(sys.argv[1:])
