"""Delivering webhooks: one signed POST per attempt, retried with back-off for a day.

A receiver that fails trips its subscription's breaker (`paused_until`): until then
its other deliveries park (pending, no job) instead of each trying, and when the time
comes one delivery probes. The probe's success wakes the parked ones; its failure
doubles the pause. So a receiver down costs one request per back-off, whatever the
backlog, and the job runners stay free for everything else.

Sent once, as far as HTTP allows: an attempt is claimed (status `sending`) in a commit
of its own before the POST and its answer recorded right after. A worker that dies
between the two leaves the delivery `sending`; the sweep sends it again after
STALE_AFTER, and the receiver, which may have had it, drops the repeat by the event's
id (README, "Webhooks").
"""

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from postroom.lib import secretbox
from postroom.lib.backoff import backoff_delay

from . import sending, signing, targets
from .conf import config
from .emitting import schedule
from .models import Attempt, Delivery, Subscription

logger = logging.getLogger(__name__)

Status = Delivery.Status
# A job lost with its runner: a pending delivery this late is queued again by the sweep.
LOST_AFTER = timedelta(minutes=15)


def stale_after() -> timedelta:
    """How long a `sending` attempt can last before its worker must have died."""
    return timedelta(seconds=4 * config("TIMEOUT") + 60)


def backoff(failures: int) -> timedelta:
    seconds = backoff_delay(
        failures, base=config("RETRY_BASE"), cap=config("RETRY_CAP"), jitter=0.1
    )
    return timedelta(seconds=seconds)


# ------------------------------------------------------------------ one attempt


@transaction.atomic
def _claim(delivery_id: int, now: datetime) -> Delivery | None:
    """Commit the start of an attempt; None when there is nothing to send now."""
    delivery = Delivery.objects.select_for_update().filter(pk=delivery_id).first()
    if delivery is None or delivery.status != Status.PENDING:
        return None  # delivered, failed, or another worker is on it
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now:
        return None  # early (a duplicate job): its own job or the sweep comes back then
    subscription = Subscription.objects.select_for_update().get(pk=delivery.subscription_id)
    if not subscription.is_active:
        _finish(delivery, Status.FAILED, error="the subscription is disabled")
        return None
    if now >= delivery.give_up_at:
        _finish(delivery, Status.FAILED, error=_gave_up(delivery))
        return None
    if subscription.paused_until is not None and subscription.paused_until > now:
        # The receiver failed lately and another delivery probes it: wait for that.
        Delivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
        return None
    if subscription.failures_in_a_row:
        # This attempt is the probe: the others park while it runs.
        subscription.paused_until = now + stale_after()
        subscription.save(update_fields=["paused_until"])
    delivery.status = Status.SENDING
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.save(update_fields=["status", "attempts", "last_attempt_at"])
    delivery.subscription = subscription
    return delivery


def _gave_up(delivery: Delivery) -> str:
    last = f"; last: {delivery.error or delivery.response_status}" if delivery.attempts else ""
    return f"gave up: no success in a day, {delivery.attempts} attempt(s){last}"


def _finish(delivery: Delivery, status: str, **fields) -> None:
    Delivery.objects.filter(pk=delivery.pk).update(status=status, next_attempt_at=None, **fields)
    logger.warning("webhook delivery %s %s: %s", delivery.pk, status, fields.get("error", ""))


def deliver(delivery_id: int) -> str | None:
    """One attempt of a delivery (its job); the status it ends in, None if none was made."""
    delivery = _claim(delivery_id, timezone.now())
    if delivery is None:
        return None
    answer = _post(delivery)
    return _record(delivery, answer)


def _post(delivery: Delivery) -> sending.Answer:
    subscription = delivery.subscription
    started = time.monotonic()
    try:
        # Checked again now, on the address the request will use: the name may resolve
        # elsewhere than when the subscription was saved (DNS rebinding).
        target = targets.check(subscription.url)
        secret = subscription.get_secret()
    except targets.TargetRefused as exc:
        return sending.Answer(None, "", f"refused: {exc}", 0)
    except secretbox.InvalidToken:
        return sending.Answer(
            None, "", "the signing secret cannot be read (was the secret key changed?)", 0
        )
    body = delivery.body.encode()
    timestamp = int(time.time())
    headers = {
        signing.HEADER: signing.header_value(secret, timestamp, body),
        "Postroom-Event": delivery.event,
        "Postroom-Event-Id": str(delivery.event_id),
        "Postroom-Delivery": str(delivery.pk),
    }
    answer = sending.post(target, body, headers, config("TIMEOUT"))
    logger.info(
        "webhook delivery %s (%s) to %s: %s in %s ms",
        delivery.pk,
        delivery.event,
        subscription.url,
        answer.status or answer.error,
        int((time.monotonic() - started) * 1000),
    )
    return answer


@transaction.atomic
def _record(delivery: Delivery, answer: sending.Answer) -> str:
    now = timezone.now()
    Attempt.objects.create(
        delivery=delivery,
        response_status=answer.status,
        response_body=answer.body,
        error=answer.error,
        duration_ms=answer.duration_ms,
    )
    subscription = Subscription.objects.select_for_update().get(pk=delivery.subscription_id)
    fields = {
        "response_status": answer.status,
        "response_body": answer.body,
        "error": answer.error if answer.status is None else "",
    }
    if answer.ok:
        Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
            status=Status.DELIVERED, delivered_at=now, next_attempt_at=None, **fields
        )
        if subscription.failures_in_a_row or subscription.paused_until:
            Subscription.objects.filter(pk=subscription.pk).update(
                failures_in_a_row=0, paused_until=None
            )
            _wake_parked(subscription.pk)
        return Status.DELIVERED
    failures = subscription.failures_in_a_row + 1
    when = now + backoff(failures)
    Subscription.objects.filter(pk=subscription.pk).update(
        failures_in_a_row=failures, paused_until=when
    )
    if when >= delivery.give_up_at:
        fields["error"] = _gave_up(delivery) if not fields["error"] else fields["error"]
        Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
            status=Status.FAILED, next_attempt_at=None, **fields
        )
        logger.warning("webhook delivery %s failed for good", delivery.pk)
        return Status.FAILED
    Delivery.objects.filter(pk=delivery.pk, status=Status.SENDING).update(
        status=Status.PENDING, next_attempt_at=when, **fields
    )
    schedule(delivery.pk, when)
    return Status.PENDING


def _wake_parked(subscription_id: int) -> int:
    """The receiver answers again: queue every delivery that parked while it did not."""
    parked = list(
        Delivery.objects.filter(
            subscription_id=subscription_id, status=Status.PENDING, next_attempt_at__isnull=True
        )
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    now = timezone.now()
    Delivery.objects.filter(pk__in=parked).update(next_attempt_at=now)
    for pk in parked:
        schedule(pk)
    if parked:
        logger.info(
            "webhook subscription %s answers again: %s queued", subscription_id, len(parked)
        )
    return len(parked)


# ------------------------------------------------------------------ by hand, and the sweep


@transaction.atomic
def send_again(delivery: Delivery) -> None:
    """An administrator's "Send again": the same event (same body and id) once more,
    with a fresh day of retries; whatever its state, unless an attempt is under way."""
    now = timezone.now()
    changed = (
        Delivery.objects.filter(pk=delivery.pk)
        .exclude(status=Status.SENDING)
        .update(
            status=Status.PENDING,
            next_attempt_at=now,
            give_up_at=now + timedelta(seconds=config("RETRY_FOR")),
            delivered_at=None,
        )
    )
    if changed:
        # By hand, the administrator wants to see it tried now, not after the pause.
        Subscription.objects.filter(pk=delivery.subscription_id).update(paused_until=None)
        schedule(delivery.pk)


def sweep(now: datetime | None = None) -> int:
    """Deliveries whose job was lost (a dead runner) or whose attempt died mid-way, queued
    again; parked deliveries past their day failed; a subscription whose parked
    deliveries nobody probes for gets a probe. Safe at any time; the job runner's
    housekeeping runs it every minute. Returns the deliveries queued."""
    now = now or timezone.now()
    pending = Delivery.objects.filter(status=Status.PENDING)
    with transaction.atomic():
        stale = Delivery.objects.filter(
            status=Status.SENDING, last_attempt_at__lt=now - stale_after()
        )
        lost = list(stale.values_list("pk", flat=True)[:1000])
        lost += pending.filter(next_attempt_at__lt=now - LOST_AFTER).values_list("pk", flat=True)[
            :1000
        ]
        pending.filter(next_attempt_at__isnull=True, give_up_at__lte=now).update(
            status=Status.FAILED, error="gave up: the receiver did not answer for a day"
        )
        # Parked deliveries whose subscription is no longer paused and has no delivery
        # on its way (with a job, or being sent): the oldest probes.
        busy = Delivery.objects.filter(
            Q(status=Status.SENDING) | Q(status=Status.PENDING, next_attempt_at__isnull=False)
        ).values("subscription_id")
        orphaned = (
            pending.filter(next_attempt_at__isnull=True)
            .exclude(subscription__paused_until__gt=now)
            .exclude(subscription_id__in=busy)
            .values("subscription_id")
            .annotate(first=Min("pk"))
            .values_list("first", flat=True)
        )
        lost += list(orphaned)
        if lost:
            Delivery.objects.filter(pk__in=lost).update(status=Status.PENDING, next_attempt_at=now)
            for pk in lost:
                schedule(pk)
    if lost:
        logger.warning("webhooks: %s delivery(ies) queued again by the sweep", len(lost))
    return len(lost)
