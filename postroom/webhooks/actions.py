"""Subscriptions: made, changed, switched off and on by administrators (the views and
any command call these; nothing else writes a Subscription)."""

import logging

from django.core.exceptions import PermissionDenied
from django.db import transaction

from . import delivery, emitting, signing, targets
from .events import EVENTS
from .models import Delivery, Subscription

logger = logging.getLogger(__name__)


class SubscriptionError(Exception):
    """The subscription cannot be saved as asked; the message says why."""


def check_admin(user) -> None:
    if user is None or not user.is_superuser:
        raise PermissionDenied("Only administrators manage webhooks.")


def clean_events(names) -> list[str]:
    unknown = sorted(set(names) - set(EVENTS))
    if unknown:
        raise SubscriptionError(f"unknown event(s): {', '.join(unknown)}")
    if not names:
        raise SubscriptionError("choose at least one event")
    return [name for name in EVENTS if name in set(names)]  # in the catalogue's order


def clean_url(url: str) -> str:
    url = (url or "").strip()
    try:
        targets.check(url)
    except targets.TargetRefused as exc:
        raise SubscriptionError(f"{url or 'the URL'} cannot receive webhooks: {exc}") from None
    return url


@transaction.atomic
def do_create_subscription(
    url: str, events: list[str], *, description: str = "", acting_user
) -> tuple[Subscription, str]:
    """A new subscription and its signing secret, which is shown once: only its
    encrypted form is kept."""
    check_admin(acting_user)
    subscription = Subscription(
        url=clean_url(url),
        events=clean_events(events),
        description=description.strip()[:200],
        created_by=acting_user,
    )
    secret = signing.new_secret()
    subscription.set_secret(secret)
    subscription.save()
    logger.info("webhook subscription %s to %s made by %s", subscription.pk, url, acting_user)
    return subscription, secret


@transaction.atomic
def do_update_subscription(
    subscription: Subscription,
    *,
    url: str,
    events: list[str],
    description: str = "",
    is_active: bool = True,
    acting_user,
) -> Subscription:
    check_admin(acting_user)
    subscription.url = clean_url(url) if url != subscription.url else url
    subscription.events = clean_events(events)
    subscription.description = description.strip()[:200]
    if is_active and not subscription.is_active:
        # Switched on again: the receiver gets a fresh chance at once.
        subscription.paused_until, subscription.failures_in_a_row = None, 0
    subscription.is_active = is_active
    subscription.save()
    logger.info("webhook subscription %s changed by %s", subscription.pk, acting_user)
    return subscription


def do_set_active(subscription: Subscription, active: bool, *, acting_user) -> Subscription:
    return do_update_subscription(
        subscription,
        url=subscription.url,
        events=subscription.events,
        description=subscription.description,
        is_active=active,
        acting_user=acting_user,
    )


@transaction.atomic
def do_new_secret(subscription: Subscription, *, acting_user) -> str:
    """Replace the signing secret (shown once); the old one stops signing at once."""
    check_admin(acting_user)
    secret = signing.new_secret()
    subscription.set_secret(secret)
    subscription.save(update_fields=["secret_encrypted", "updated_at"])
    logger.info("webhook subscription %s: new secret, by %s", subscription.pk, acting_user)
    return secret


def do_send_test(subscription: Subscription, *, acting_user) -> Delivery:
    check_admin(acting_user)
    if not subscription.is_active:
        raise SubscriptionError("the subscription is switched off: switch it on first")
    return emitting.queue_test(subscription, by=acting_user)


def do_send_again(delivery_row: Delivery, *, acting_user) -> None:
    check_admin(acting_user)
    if not delivery_row.subscription.is_active:
        raise SubscriptionError("the subscription is switched off: switch it on first")
    if delivery_row.status == Delivery.Status.SENDING:
        raise SubscriptionError("this delivery is being sent right now")
    delivery.send_again(delivery_row)
