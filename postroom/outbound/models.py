from django.conf import settings
from django.db import models
from django.db.models import Q

from postroom.mail.models import Conversation, Message
from postroom.mailboxes.models import Mailbox


class OutboundSettings(models.Model):
    """A mailbox's sending options; a mailbox without a row uses the defaults.

    Kept here rather than on Mailbox because only outbound reads them.
    """

    mailbox = models.OneToOneField(
        Mailbox, primary_key=True, on_delete=models.CASCADE, related_name="outbound_settings"
    )
    # Off for providers whose SMTP server files sent mail into Sent itself (Gmail,
    # Microsoft 365): appending as well would show every reply twice there.
    save_to_sent = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "outbound settings"

    def __str__(self) -> str:
        return f"sending options of {self.mailbox_id}"

    @classmethod
    def of(cls, mailbox: Mailbox) -> "OutboundSettings":
        found = cls.objects.filter(mailbox=mailbox).first()
        return found or cls(mailbox=mailbox)


class OutboxMessage(models.Model):
    """One email to send: written with the action that caused it, sent once by a job.

    The raw bytes, Message-ID included, are fixed when the row is written, so every
    attempt sends the same email and a retry can look for it in the Sent folder.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        NEW = "new", "New email"
        REPLY = "reply", "Reply"
        REPLY_ALL = "reply_all", "Reply all"
        FORWARD = "forward", "Forward"
        # The mailbox's automatic reply (routing.AutoReply): in the conversation, but
        # nobody's answer: the customer still waits.
        AUTO_REPLY = "auto_reply", "Auto-reply"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="outbox")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.NEW)
    # Where it was written: the conversation shows its state until it is sent and stored.
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parent = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Without angle brackets, as Message.message_id.
    message_id = models.CharField(max_length=255, unique=True)
    subject = models.TextField(blank=True)
    sender = models.CharField(max_length=320)  # the envelope's MAIL FROM
    recipients = models.JSONField(default=list)  # the envelope's RCPT TOs
    raw = models.BinaryField()
    # A double-submitted form or a retried API call writes one row, not two.
    idempotency_key = models.CharField(max_length=64, unique=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # Undo-send: no attempt starts before this time (the job runner reschedules an early
    # job), and until the first attempt the sender may take the email back as a draft.
    not_before = models.DateTimeField(null=True, blank=True)
    # What the sender wrote (to, cc, subject, html, attachments as AttachmentBlob refs),
    # so that Undo returns it to the compose form exactly; empty for machine mail.
    composition = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # The server's words on a failure, or why the message waits (quota, rate limit).
    last_error = models.TextField(blank=True)
    # An earlier attempt may have reached the server (interrupted, or no reply to the
    # end of DATA): look for the Message-ID in the Sent folder before sending again.
    delivery_unknown = models.BooleanField(default=False)
    sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # After sending: the copy appended to the server's Sent folder, and the Message
    # that shows the email in its conversation.
    saved_to_sent = models.BooleanField(default=False)
    save_attempts = models.PositiveSmallIntegerField(default=0)
    save_error = models.TextField(blank=True)
    stored_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A bounce (a delivery-status report) that came back for this email, and its words.
    bounce = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    bounce_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["status", "sent_at"], name="outbox_status_sent"),
            models.Index(fields=["mailbox", "last_attempt_at"], name="outbox_mailbox_attempt"),
            models.Index(fields=["conversation"], name="outbox_conversation"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False), name="outbox_sent_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject or '(no subject)'} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.SENDING)

    def can_undo(self, now=None) -> bool:
        """Still in its undo window: queued, never attempted, its not-before ahead."""
        from django.utils import timezone

        now = now or timezone.now()
        return (
            self.status == self.Status.QUEUED
            and self.attempts == 0
            and self.not_before is not None
            and self.not_before > now
        )


class MonthlyUsage(models.Model):
    """Emails sent in a calendar month, for the organisation's monthly quota.

    Its row is also the lock that makes two workers' quota checks take turns.
    """

    month = models.DateField(primary_key=True)  # the first day of the month
    sent = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.month:%Y-%m}: {self.sent} sent"


class Draft(models.Model):
    """An email being written, saved as the sender types; reopening the form restores it.

    Addresses are kept as typed (they may be half-written); the HTML is sanitised on
    every save. Attachments are references to AttachmentBlob rows by SHA-256:
    [{"sha256", "filename", "content_type", "size"}].
    """

    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="drafts")
    kind = models.CharField(
        max_length=16, choices=OutboxMessage.Kind.choices, default=OutboxMessage.Kind.NEW
    )
    conversation = models.ForeignKey(
        Conversation, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    parent = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to = models.TextField(blank=True)
    cc = models.TextField(blank=True)
    subject = models.TextField(blank=True)
    html = models.TextField(blank=True)
    attachments = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [
            models.Index(fields=["author", "mailbox", "kind", "conversation"], name="draft_lookup")
        ]

    def __str__(self) -> str:
        return f"draft: {self.subject or '(no subject)'}"


class Signature(models.Model):
    """A signature in HTML: a mailbox's (the team's footer) or a user's own, not both.

    A new email gets the author's signature, then the mailbox's, under the text.
    """

    mailbox = models.OneToOneField(
        Mailbox, null=True, blank=True, on_delete=models.CASCADE, related_name="signature"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="email_signature",
    )
    html = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(mailbox__isnull=True, user__isnull=False)
                | Q(mailbox__isnull=False, user__isnull=True),
                name="signature_of_mailbox_or_user",
            ),
        ]

    def __str__(self) -> str:
        return f"signature of {self.mailbox_id and f'mailbox {self.mailbox_id}' or self.user_id}"


class MessageTemplate(models.Model):
    """A mailbox's canned email, with placeholders resolved when the email is sent."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="templates")
    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=998, blank=True)
    html = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="template_name_once"),
        ]

    def __str__(self) -> str:
        return self.name
