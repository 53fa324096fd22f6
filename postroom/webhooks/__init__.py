"""Webhooks: administrators subscribe URLs to events; each event's deliveries are
written in the transaction of the event and POSTed, signed, by the job queue.

Apps emit with one line where the event happens, e.g.
`webhooks.emit("lead.created", lead)` (see events.py for each event's objects).
"""

from collections.abc import Callable

_emit: Callable[..., int] | None = None


def emit(name: str, *objects, **extra) -> int:
    """See emitting.emit. Imported on first use: apps on every layer import this
    package, some before the models are loaded."""
    global _emit
    if _emit is None:
        from .emitting import emit as _real

        _emit = _real
    return _emit(name, *objects, **extra)
