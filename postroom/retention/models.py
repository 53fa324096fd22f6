"""How long Postroom keeps mail, and the log of what it removed.

The rules (postroom/retention/rules.py) read these: the organisation's default, a
mailbox's own choice, and every run (RetentionRun) with a row per removed copy
(RetentionRemoval): what went, when, and by which rule. Nothing here is added to
Mailbox: retention is this app's business, and a mailbox without a row follows the
organisation.
"""

from django.conf import settings
from django.db import models

from postroom.mailboxes.models import Mailbox

# The choices an administrator is offered; any other number of days is allowed too.
DEFAULT_DAYS = 30
COMMON_DAYS = (30, 90)


class OrganisationRetention(models.Model):
    """The organisation's default: one row (pk 1), created on first read."""

    # None: keep mail for ever.
    days = models.PositiveIntegerField(null=True, blank=True, default=DEFAULT_DAYS)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # The last dry run a job computed (postroom/retention/saved_plan.py): at a million
    # messages it takes tens of seconds, too long for a page. `plan_wanted_at` is when a
    # job was last asked for a new one; later than `plan_computed_at`: it is computing.
    plan = models.JSONField(null=True, blank=True)
    plan_computed_at = models.DateTimeField(null=True, blank=True)
    plan_wanted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "keep" if self.days is None else f"{self.days} days"


class MailboxRetention(models.Model):
    """A mailbox's own retention, overriding the organisation's default."""

    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="retention")
    # None: keep this mailbox's mail for ever.
    days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"{self.mailbox_id}: {'keep' if self.days is None else f'{self.days} days'}"


class RetentionRun(models.Model):
    """One pass of retention: the daily sweep, one an administrator started, or the
    removal someone chose when a mailbox stopped syncing or a task was deleted.

    A run is a job on the queue; it works in batches, one transaction each, and its
    counters move in the batch's transaction, so a run killed midway and started again
    carries on where it stopped and counts nothing twice.
    """

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled", "Daily sweep"
        MANUAL = "manual", "Started by an administrator"
        SYNC_OFF = "sync_off", "Sync switched off"
        DEACTIVATED = "deactivated", "Owner's account deactivated"
        TASK_DELETED = "task_deleted", "Task deleted"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Scope: None for every mailbox by its rule; one mailbox's unlinked mail whatever
    # its age (sync switched off, owner deactivated); or the emails of a deleted task.
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    all_unlinked = models.BooleanField(default=False)
    message_ids = models.JSONField(default=list, blank=True)
    # What was said before it ran (a note for sync-off and task runs: the choice).
    note = models.TextField(blank=True)
    planned_copies = models.PositiveIntegerField(null=True, blank=True)
    planned_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    batches = models.PositiveIntegerField(default=0)
    copies_removed = models.PositiveIntegerField(default=0)
    messages_removed = models.PositiveIntegerField(default=0)
    raw_removed = models.PositiveIntegerField(default=0)
    raw_bytes_freed = models.PositiveBigIntegerField(default=0)
    blobs_removed = models.PositiveIntegerField(default=0)
    blob_bytes_freed = models.PositiveBigIntegerField(default=0)
    # Pack files (relative to DATA_DIR/raw) that lost bytes and are to be compacted;
    # emptied as each is done, so a restarted run compacts only what is left.
    packs_to_compact = models.JSONField(default=list, blank=True)
    packs_compacted = models.PositiveIntegerField(default=0)
    disk_bytes_freed = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["state", "trigger"], name="retention_run_state")]

    def __str__(self) -> str:
        return f"retention run {self.pk} ({self.get_trigger_display()}, {self.state})"

    @property
    def bytes_freed(self) -> int:
        return self.raw_bytes_freed + self.blob_bytes_freed


class RetentionRemoval(models.Model):
    """One copy of an email removed from a mailbox by a run: the log of what went.

    The email's row may be gone with it, so its identity is kept as text; no subject,
    no address: a personal mailbox's mail stays private in the log too.
    """

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="removals")
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    mailbox_address = models.CharField(max_length=254)
    message_pk = models.BigIntegerField()
    message_identity = models.CharField(max_length=255)
    rule = models.CharField(max_length=200)
    received_at = models.DateTimeField(null=True, blank=True)
    removed_at = models.DateTimeField()
    raw_size = models.PositiveBigIntegerField(default=0)
    # The email left Postroom altogether (no other mailbox held it).
    message_removed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-removed_at", "-pk"]
        indexes = [
            models.Index(fields=["run", "mailbox"], name="retention_removal_run"),
            models.Index(fields=["mailbox", "removed_at"], name="retention_removal_mailbox"),
        ]

    def __str__(self) -> str:
        return f"{self.message_identity} from {self.mailbox_address} ({self.rule})"


class PackCompaction(models.Model):
    """A pack file being rewritten without its freed bytes: the name of its new pack
    is recorded before the file is written, so a run killed at any step knows what to
    finish or throw away when it starts again."""

    run = models.ForeignKey(RetentionRun, on_delete=models.CASCADE, related_name="compactions")
    pack = models.CharField(max_length=200, unique=True)
    new_pack = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.pack} -> {self.new_pack or '?'}"
