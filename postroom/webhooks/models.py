"""Webhook subscriptions, and one Delivery per (event, subscription) with its attempts."""

import uuid

from django.conf import settings
from django.db import models

from postroom.lib import secretbox


class Subscription(models.Model):
    """An administrator's URL that is told of the events it chose."""

    url = models.URLField(max_length=2000)
    # Event names (postroom.webhooks.events.EVENTS); checked by the service on save.
    events = models.JSONField(default=list)
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    # The signing secret, encrypted with the installation's key (lib/secretbox): shown
    # to the administrator once, when it is made.
    secret_encrypted = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A receiver that failed is probed by one delivery at a time until this moment
    # passes (a circuit breaker): a receiver down costs one request per back-off, not
    # one per queued delivery, and never holds up the job runners.
    paused_until = models.DateTimeField(null=True, blank=True)
    failures_in_a_row = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url

    def set_secret(self, secret: str) -> None:
        self.secret_encrypted = secretbox.encrypt(settings.SECRET_KEY, secret)

    def get_secret(self) -> str:
        return secretbox.decrypt(settings.SECRET_KEY, self.secret_encrypted)


class Delivery(models.Model):
    """One event for one subscription: the body is fixed when the event happens (written
    in the event's own transaction), each attempt signs it with its own timestamp."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        SENDING = "sending", "Sending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    # The event's id, the same in every subscription's delivery of it: a receiver
    # drops a repeat by it (a "Send again", a worker that died after the POST).
    event_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    event = models.CharField(max_length=64)
    body = models.TextField()  # the JSON sent, byte for byte the same on every attempt
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # The last attempt's answer: the HTTP status (None: no answer), the start of the
    # body and, without an answer, what went wrong.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Retries stop after this (a day after the event, or after "Send again").
    give_up_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["subscription", "-id"], name="webhooks_delivery_log"),
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_delivery_due"),
        ]
        constraints = [
            # One delivery of an event per subscription, however often it is emitted.
            models.UniqueConstraint(
                fields=["subscription", "event_id"], name="webhooks_delivery_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id} to subscription {self.subscription_id}"


class Attempt(models.Model):
    """One POST of a delivery, for the delivery log."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    at = models.DateTimeField(auto_now_add=True)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"attempt of delivery {self.delivery_id}: {self.response_status or self.error}"
