"""A mailbox's auto-reply and what it decided for each received email (imported by
routing.models: Django finds models there)."""

from django.conf import settings
from django.db import models

from postroom.mailboxes.models import Mailbox


class AutoReply(models.Model):
    """A mailbox's automatic reply: when it answers, and with what (placeholders as in
    reply templates). No row: the mailbox never answers by itself."""

    class When(models.TextChoices):
        OFF = "off", "Off"
        OUTSIDE_HOURS = "outside_hours", "Outside the calendar's working hours"
        HOLIDAYS = "holidays", "On the calendar's holidays"
        ALWAYS = "always", "Always"

    mailbox = models.OneToOneField(
        Mailbox, primary_key=True, on_delete=models.CASCADE, related_name="auto_reply"
    )
    when = models.CharField(max_length=16, choices=When.choices, default=When.OFF)
    calendar = models.ForeignKey(
        "routing.BusinessHours", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Empty: "Re: " and the customer's subject.
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    # At most one auto-reply per sender and mailbox in this many days (the vacation
    # convention of RFC 3834 and Sieve: 4 by default).
    period_days = models.PositiveIntegerField(default=4)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "auto-reply"

    def __str__(self) -> str:
        return f"auto-reply of {self.mailbox_id}: {self.when}"


class AutoReplyLog(models.Model):
    """What the auto-reply did for one received email of a mailbox: sent (the Outbox
    row) or skipped, and why; shown in the conversation's history. One per email and
    mailbox: a re-run of the pipeline decides nothing twice."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey("mail.Message", on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        "mail.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    sender = models.CharField(max_length=320, blank=True)  # lower-cased
    sent = models.BooleanField(default=False)
    reason = models.CharField(max_length=500, blank=True)
    outbox_id = models.BigIntegerField(null=True, blank=True)  # outbound.OutboxMessage
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "message"], name="routing_autoreply_once")
        ]
        indexes = [
            models.Index(fields=["mailbox", "sender", "sent", "created_at"], name="autoreply_seen"),
            models.Index(fields=["conversation"], name="autoreply_conversation"),
        ]

    def __str__(self) -> str:
        return f"auto-reply to {self.sender}: {'sent' if self.sent else self.reason}"
