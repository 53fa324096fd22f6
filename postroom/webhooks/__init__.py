"""Webhooks: administrators subscribe URLs to events; each event's deliveries are
written in the transaction of the event and POSTed, signed, by the job queue.

Apps emit with one line where the event happens, e.g.
`webhooks.emit("lead.created", lead)` (see events.py for each event's objects).
"""


def emit(name: str, *objects, **extra) -> int:
    # Imported here: apps on every layer import this package, some before models load.
    from .emitting import emit as _emit

    return _emit(name, *objects, **extra)
