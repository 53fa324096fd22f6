"""Emitting an event: one Delivery row per subscription that chose it, written in the
caller's transaction, and a job per delivery that the queue runs after the commit.

Emitting sits on hot paths (every ingested email, every tracking hit), so the first
question, "does any subscription want this event?", is answered from a per-process
table, read at most every SUBSCRIBERS_TTL seconds and cleared at once when this process
saves a subscription. With no subscription, emit() is a dictionary lookup.
"""

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from .conf import config
from .events import EVENTS, TEST_EVENT, event, payload_json_default
from .models import Delivery, Subscription

logger = logging.getLogger(__name__)

# Seconds another process may go on using its table after a subscription changed: a new
# subscription gets events from every process within this time.
SUBSCRIBERS_TTL = 5.0
# Ids made from an event's key (a lead's id, say) are stable: the same event emitted
# twice (a job that ran twice) becomes one delivery per subscription, not two.
_NAMESPACE = uuid.UUID("6f1d4a3e-8d0a-4f7e-9a55-2f4f6c3b9e10")
# Delivery jobs run after every other job that is ready: a slow receiver never holds up
# the path of an email (priorities: higher first; filing sent mail is -10).
PRIORITY = -20

_table: tuple[float, dict[str, tuple[int, ...]]] | None = None


def forget_subscribers(*args, **kwargs) -> None:
    """Subscriptions changed: the next emit reads them again (a signal receiver too)."""
    global _table
    _table = None


def _load(now: float) -> tuple[float, dict[str, tuple[int, ...]]]:
    global _table
    wanted: dict[str, list[int]] = {}
    # Inside the caller's transaction, a savepoint: a failure leaves it usable. Outside
    # one, a plain read: a transaction of its own would take SQLite's write lock (every
    # Postroom transaction begins IMMEDIATE) and hold up the tracking endpoints' writes.
    reading = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    try:
        with reading:
            rows = list(Subscription.objects.filter(is_active=True).values_list("pk", "events"))
    except DatabaseError:
        logger.exception("reading the webhook subscriptions failed; no events emitted for now")
        rows = []
    for pk, names in rows:
        for name in names or ():
            wanted.setdefault(name, []).append(pk)
    _table = (now + SUBSCRIBERS_TTL, {name: tuple(pks) for name, pks in wanted.items()})
    return _table


def subscribers(name: str) -> tuple[int, ...]:
    """Ids of the active subscriptions that may want the event (as of SUBSCRIBERS_TTL)."""
    table = _table
    now = time.monotonic()
    if table is None or table[0] <= now:
        table = _load(now)
    return table[1].get(name, ())


def emit(name: str, *objects, **extra) -> int:
    """The event `name` happened to each of `objects` (extra: what the event's builder
    in events.py takes); returns the deliveries queued. Call it inside the transaction
    that makes the event happen: its deliveries commit, or roll back, with it. Never
    raises for a webhook's sake: a failure is logged and the caller's work goes on."""
    if name not in EVENTS:
        raise ValueError(f"unknown webhook event {name!r}")  # a programming error
    ids = subscribers(name)
    if not ids or not objects:
        return 0
    try:
        with transaction.atomic():
            wanted = [
                pk
                for pk, names in Subscription.objects.filter(pk__in=ids, is_active=True)
                .values_list("pk", "events")
                .order_by("pk")
                if name in (names or ())
            ]
            if not wanted:
                return 0
            return queue(name, event(name).build(objects, **extra), wanted)
    except Exception:  # noqa: BLE001 - the event itself (a lead, an email) must not fail
        logger.exception("webhook event %s could not be queued", name)
        return 0


def body_of(event_id: uuid.UUID, name: str, data: dict, at) -> str:
    envelope = {"id": str(event_id), "event": name, "created_at": at.isoformat(), "data": data}
    return json.dumps(
        envelope, ensure_ascii=False, separators=(",", ":"), default=payload_json_default
    )


def queue(name: str, announced: Iterable[tuple[str | None, dict]], subscription_ids) -> int:
    """Write the deliveries of the announced events and queue a job for each."""
    now = timezone.now()
    give_up_at = now + timedelta(seconds=config("RETRY_FOR"))
    rows, event_ids = [], []
    for key, data in announced:
        event_id = uuid.uuid5(_NAMESPACE, f"{name}:{key}") if key else uuid.uuid4()
        event_ids.append(event_id)
        body = body_of(event_id, name, data, now)
        rows += [
            Delivery(
                subscription_id=pk,
                event_id=event_id,
                event=name,
                body=body,
                next_attempt_at=now,
                give_up_at=give_up_at,
            )
            for pk in subscription_ids
        ]
    if not rows:
        return 0
    # A repeated event (the same key) is already there: it keeps its one delivery.
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    fresh = list(
        Delivery.objects.filter(
            event_id__in=event_ids,
            subscription_id__in=subscription_ids,
            status=Delivery.Status.PENDING,
            attempts=0,
        ).values_list("pk", flat=True)
    )
    for pk in fresh:
        schedule(pk)
    return len(fresh)


def schedule(delivery_id: int, when=None) -> None:
    """Queue a delivery's job (the database queue writes it in this transaction; Celery
    sends it on commit)."""
    from .jobs import deliver_webhook  # the jobs module imports this one's neighbours

    job = deliver_webhook.using(priority=PRIORITY, run_after=when)
    job.enqueue(delivery_id)


def queue_test(subscription: Subscription, *, by=None) -> Delivery:
    """A test event to one subscription, whatever events it chose."""
    with transaction.atomic():
        queue(TEST_EVENT, event(TEST_EVENT).build([subscription], by=by), [subscription.pk])
        return subscription.deliveries.filter(event=TEST_EVENT).order_by("-pk").first()
