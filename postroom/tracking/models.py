"""Opens and clicks of sent emails.

A TrackedEmail is made when an Outbox email is first delivered with tracking: the
external recipients who got a tracked copy and the links of its HTML, in order; the
tokens in those copies point into these lists by index, signed (tokens.py).
"""

from django.conf import settings
from django.db import models

from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import OutboxMessage


class TrackedEmail(models.Model):
    outbox = models.OneToOneField(
        OutboxMessage, primary_key=True, on_delete=models.CASCADE, related_name="tracking"
    )
    # External recipients, each with a copy of their own; a token names one by index.
    recipients = models.JSONField(default=list)
    # The links of the email's HTML (http and https only): a click redirects only here.
    links = models.JSONField(default=list)
    # Recipients whose copy the SMTP server took: a retry after a failure with a later
    # copy does not send theirs again.
    delivered = models.JSONField(default=list)
    # The first open by a person (not a prefetch): set once, by the request that
    # recorded it, which also tells the sender.
    first_read_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"tracking of outbox {self.outbox_id}"


class TrackingEvent(models.Model):
    """One load of the tracking image (an open) or of a rewritten link (a click)."""

    class Kind(models.TextChoices):
        OPEN = "open", "Opened"
        CLICK = "click", "Clicked"

    # No index of its own: tracking_event_source starts with it and serves every lookup
    # by email; one B-tree fewer to write per load (a WAL frame of ~5.7 on SQLite).
    email = models.ForeignKey(
        TrackedEmail, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    recipient = models.CharField(max_length=320)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    url = models.TextField(blank=True)  # the link's target, for clicks
    at = models.DateTimeField()
    # gmail, outlook, apple_mail, yahoo, thunderbird, browser, scanner, unknown
    client = models.CharField(max_length=32, blank=True)
    # An image proxy or a scanner fetching on delivery, not a person reading.
    is_prefetch = models.BooleanField(default=False)
    # Where it came from, to tell one open from a replay (never shown).
    source = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["at", "pk"]
        indexes = [
            # The repeat check of every load (events.WRITE_SQL) looks up its source:
            # with (email, recipient, at) it read every load of the last minute.
            models.Index(fields=["email", "source", "at"], name="tracking_event_source"),
            # Pruning (retention.prune) and the reports read events by time.
            models.Index(fields=["at"], name="tracking_event_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.email_id} by {self.recipient} at {self.at}"


class TrackingSettings(models.Model):
    """One switch per mailbox or per user; no row: tracking on."""

    mailbox = models.OneToOneField(
        Mailbox, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "tracking settings"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(mailbox__isnull=True, user__isnull=False)
                | models.Q(mailbox__isnull=False, user__isnull=True),
                name="tracking_settings_of_mailbox_or_user",
            ),
        ]

    def __str__(self) -> str:
        return f"tracking {'on' if self.enabled else 'off'}"


class TrackingOptOut(models.Model):
    """An address whose mail is never tracked (a contact who asked, a lead's wish)."""

    address = models.CharField(max_length=320, unique=True)  # lower-case
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"no tracking for {self.address}"


class StageTrigger(models.Model):
    """ "When the client opens (or clicks) an email of an item in `stage`, move the item
    to `move_to`": one per stage and event, for deals' pipelines and smart types alike."""

    class On(models.TextChoices):
        OPEN = "open", "opens an email"
        CLICK = "click", "clicks a link"

    stage = models.ForeignKey("crm.Stage", on_delete=models.CASCADE, related_name="+")
    on = models.CharField(max_length=8, choices=On.choices)
    move_to = models.ForeignKey("crm.Stage", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["stage", "on"], name="tracking_trigger_per_stage"),
        ]

    def __str__(self) -> str:
        return f"on {self.on} in stage {self.stage_id} move to {self.move_to_id}"


class TriggerFiring(models.Model):
    """A trigger that moved an item, because of one email's open or click: once per
    trigger, email and item; kept (with the event's facts, which outlive pruned events)
    so that the timeline can say why and a person can undo it."""

    trigger = models.ForeignKey(
        StageTrigger, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The trigger's stage at the time, so that a deleted trigger keeps "once per email".
    stage = models.ForeignKey("crm.Stage", null=True, on_delete=models.SET_NULL, related_name="+")
    email = models.ForeignKey(TrackedEmail, on_delete=models.CASCADE, related_name="firings")
    content_type = models.ForeignKey("contenttypes.ContentType", on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=8, choices=TrackingEvent.Kind.choices)
    recipient = models.CharField(max_length=320)
    event = models.ForeignKey(
        TrackingEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    at = models.DateTimeField()
    from_stage = models.ForeignKey(
        "crm.Stage", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_stage = models.ForeignKey(
        "crm.Stage", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The stage change on the item's timeline, where its Undo is offered.
    entry = models.OneToOneField(
        "crm.TimelineEntry", null=True, on_delete=models.SET_NULL, related_name="trigger_firing"
    )
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["stage", "kind", "email", "content_type", "object_id"],
                name="tracking_trigger_once_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.email_id} moved {self.content_type_id}:{self.object_id}"
