from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.utils import timezone

from postroom.mailboxes.models import Folder, Mailbox

from .classify import Kind


class RawMessage(models.Model):
    """The exact bytes of an email as the server gave them, stored once by SHA-256.

    Where the bytes live is postroom.mail.rawstore's business (POSTROOM_RAW_STORE): in
    `data` ("db": one transaction with the copy and the cursor, one backup), or in a
    pack file under DATA_DIR/raw ("files": written and fsynced before the transaction
    that commits this row, so the bytes are durable before the cursor moves). Rows from
    before the file store, and rows written with "db", keep their bytes in `data`.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    # The bytes, when kept in the database; empty when they are in a pack file.
    data = models.BinaryField()
    # The pack file (relative to DATA_DIR/raw) and the bytes' place in it; NULL for
    # `data`. Nullable so that adding them rewrites no existing table of mail.
    pack = models.CharField(max_length=200, null=True)  # noqa: DJ001 - NULL: in `data`
    pack_offset = models.PositiveBigIntegerField(null=True)
    size = models.PositiveBigIntegerField(null=True)

    def __str__(self) -> str:
        return self.sha256


class Message(models.Model):
    """One email, once per organisation, however many mailboxes or folders saw it."""

    class Status(models.TextChoices):
        RECEIVED = "received", "Stored, not parsed yet"
        PARSED = "parsed", "Parsed"
        QUARANTINED = "quarantined", "Quarantined"

    # Message-ID when present and trustworthy, else a hash of stable headers and body:
    # the unique key that makes a re-fetch, a second mailbox or a crash a no-op.
    identity = models.CharField(max_length=255, unique=True)
    message_id = models.CharField(max_length=998, blank=True, db_index=True)
    raw_sha256 = models.CharField(max_length=64)
    raw_size = models.PositiveBigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    error = models.TextField(blank=True)
    # Over the size limit: only the headers were fetched; this is the size on the server.
    truncated_size = models.PositiveBigIntegerField(null=True, blank=True)
    # SHA-256 of the headers all copies share and of the body (parse.read_envelope): the
    # identity when there is no Message-ID, and how a reused Message-ID is recognised
    # without reading the raw bytes of the message that has it already.
    content_hash = models.CharField(max_length=64, blank=True)

    # Who wrote it: a person, or a machine (auto-reply, mailing list, bounce); see
    # postroom.mail.classify. Auto-replies, lists and bounces never reach the CRM.
    Kind = Kind
    kind = models.CharField(
        max_length=16, choices=[(k.value, k.label) for k in Kind], default=Kind.NORMAL
    )
    # For a bounce: the email that bounced, when it is in Postroom.
    bounce_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="bounces"
    )
    # Outlook's Thread-Index: the conversation it names (22 bytes as hex), for threading
    # Outlook mail whose In-Reply-To and References were lost.
    thread_index = models.CharField(max_length=44, blank=True, db_index=True)

    subject = models.TextField(blank=True)
    from_name = models.CharField(max_length=500, blank=True)
    from_address = models.CharField(max_length=320, blank=True, db_index=True)
    to_addresses = models.JSONField(default=list)
    cc_addresses = models.JSONField(default=list)
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = models.JSONField(default=list)
    text_body = models.TextField(blank=True)
    html_body = models.TextField(blank=True)
    # The bodies hold only their first bounds.STORED_BODY_CHARS characters: the raw
    # message has the rest (shown by "Show all"), so a 30 MB text is not stored twice.
    body_truncated = models.BooleanField(default=False)

    # The three times: what the sender's Date header claims, when the IMAP server
    # received it (INTERNALDATE), and when it entered Postroom.
    date = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["status"], name="mail_message_status"),
            # Whether other emails share a raw message's bytes (purge, retention).
            models.Index(fields=["raw_sha256"], name="mail_message_raw"),
            # The dashboard's incoming mail of a period.
            models.Index(fields=["date"], name="mail_message_date"),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"

    @property
    def sort_time(self):
        return self.date or self.received_at or self.created_at


class AttachmentBlob(models.Model):
    """The bytes of an attachment, stored once by SHA-256 however many emails carry it.

    In the database like RawMessage, for the same reasons: one transaction, one backup.
    """

    sha256 = models.CharField(max_length=64, primary_key=True)
    data = models.BinaryField()

    def __str__(self) -> str:
        return self.sha256


class Attachment(models.Model):
    """A part of a message other than its text and HTML body: a file, an inline image,
    a forwarded email, or a file unpacked from Outlook's winmail.dat."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    # Order in the message, from 1: re-parsing replaces the rows, it never doubles them.
    position = models.PositiveIntegerField()
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    size = models.PositiveBigIntegerField()
    # The AttachmentBlob holding the bytes (not a foreign key, like Message.raw_sha256:
    # blobs are written set-wise with ON CONFLICT DO NOTHING).
    sha256 = models.CharField(max_length=64, db_index=True)
    content_id = models.CharField(max_length=998, blank=True)
    # Shown inside the HTML body (referenced as cid:), so not listed as a download.
    is_inline = models.BooleanField(default=False)

    class Meta:
        ordering = ["message", "position"]
        constraints = [
            models.UniqueConstraint(fields=["message", "position"], name="attachment_once"),
        ]

    def __str__(self) -> str:
        return self.filename


class MessageCopy(models.Model):
    """Where a Message lives: one sighting in a folder of a mailbox."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="copies")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="copies")
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="copies")
    uidvalidity = models.BigIntegerField()
    uid = models.BigIntegerField()
    flags = models.JSONField(default=list)
    # Denormalised from flags: the unread views filter on it and JSON "contains"
    # is not portable to SQLite.
    is_seen = models.BooleanField(default=False)
    internal_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["folder", "uidvalidity", "uid"], name="mail_copy_once_per_uid"
            ),
        ]
        indexes = [
            # A mailbox's mail by age: retention's sweep and the storage report.
            models.Index(fields=["mailbox", "internal_date"], name="mail_copy_age"),
            # "Does a mailbox the user reads hold this message": search's permission
            # check of each match, the CRM timeline's readable emails. Read from the
            # index alone, without a row per message.
            models.Index(fields=["message", "mailbox"], name="mail_copy_message_mailbox"),
        ]

    def __str__(self) -> str:
        return f"{self.folder} uid {self.uid}"


class FetchedBatch(models.Model):
    """Messages an initial sync wrote to a pack and has not recorded yet.

    The backfill of a folder's window (thousands of old emails at once) stores a batch
    as its bytes in a pack file, fsynced, plus this one row, committed with the
    backfill's cursor: the raw messages are durable, and the fetch never waits for the
    rows of each message. The `record` job turns the row into RawMessage, Message and
    MessageCopy rows (the same unique keys make it idempotent) and deletes it. New mail
    does not come this way: it is recorded at once, so push stays within a second.
    """

    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="+")
    uidvalidity = models.BigIntegerField()
    # The pack file (relative to DATA_DIR/raw) holding the batch's bytes back to back.
    pack = models.CharField(max_length=200)
    # One [uid, offset, size, flags, INTERNALDATE (Unix time) or null, size over the
    # limit (only the headers were fetched) or null] per message.
    entries = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{len(self.entries)} fetched in {self.folder}"


# The inbox's indexes (see Conversation.Meta).
INBOX_STATUS = ["status", "-last_message_at"]
INBOX_RESPONSIBLE = ["responsible", "status", "-last_message_at"]
INBOX_TAIL = ["mailbox", "snoozed_until", "message_count"]


class Conversation(models.Model):
    """A thread in a mailbox: the unit that is assigned, commented on, opened and closed."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="conversations")
    subject = models.TextField(blank=True)
    normalized_subject = models.CharField(max_length=255, blank=True, db_index=True)
    last_message_at = models.DateTimeField(db_index=True)
    last_sender = models.CharField(max_length=500, blank=True)
    # The emails of it that its mailbox still holds: 0 takes it off the list.
    message_count = models.PositiveIntegerField(default=0)
    messages = models.ManyToManyField(Message, through="ConversationMessage")

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING = "pending", "Waiting on customer"
        CLOSED = "closed", "Closed"

    # The workflow (postroom/mail/workflow.py changes these; nothing else should).
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="responsible_conversations",
    )
    # Out of the working views until then; the job queue (and the housekeeping sweep)
    # brings it back.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # When the customer's oldest unanswered email arrived; None once answered.
    waiting_since = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    # When the status last changed: only a customer's email after it reopens.
    status_changed_at = models.DateTimeField(null=True, blank=True)
    # Whether any of its emails has a (non-inline) attachment: a kept flag, so that the
    # inbox filters on it without a join.
    has_attachment = models.BooleanField(default=False)
    # The running reply deadline (routing's SLA clock keeps it; None: no deadline runs),
    # so that the inbox shows "due soon" and "overdue" without a join.
    reply_due_at = models.DateTimeField(null=True, blank=True)
    # Its first reply (not a forward) and how long the customer had waited for it, in
    # seconds: kept by ConversationEvent.save(), so that the dashboard's first-reply
    # time reads one index instead of looking for an earlier reply of every reply.
    first_reply_at = models.DateTimeField(null=True, blank=True)
    first_reply_seconds = models.IntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-last_message_at"]
        indexes = [
            models.Index(fields=["mailbox", "-last_message_at"], name="conv_mailbox_recent"),
            # The inbox views, newest first: All open, Waiting on customer, Closed, and
            # Mine and Unassigned (responsible IS NULL). The trailing columns are what
            # every view also filters on, so that the counts are index-only scans.
            models.Index(fields=[*INBOX_STATUS, *INBOX_TAIL], name="conv_inbox_status"),
            models.Index(fields=[*INBOX_RESPONSIBLE, *INBOX_TAIL], name="conv_inbox_resp"),
            # Snoozed, and the sweep that wakes the overdue; partial, so that the other
            # views' "snoozed_until IS NULL" never picks it.
            models.Index(
                fields=["snoozed_until", "mailbox", "message_count"],
                condition=models.Q(snoozed_until__isnull=False),
                name="conv_snoozed",
            ),
            # Unanswered mail (longest waiting first) and the deadlines on inbox rows.
            # Covering what the view also filters on, so that its count in the
            # navigation is an index-only scan (PostgreSQL) like the others.
            models.Index(
                fields=["status", "waiting_since"],
                include=INBOX_TAIL,
                name="conv_status_waiting",
            ),
            models.Index(fields=["reply_due_at"], name="conv_reply_due"),
            # The dashboard's first-reply time of a period (PostgreSQL reads it alone).
            models.Index(
                fields=["mailbox", "first_reply_at"],
                include=["first_reply_seconds", "responsible"],
                condition=models.Q(first_reply_at__isnull=False),
                name="conv_first_reply",
            ),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class ConversationMessage(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE)
    message = models.ForeignKey(Message, on_delete=models.CASCADE)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE)

    class Meta:
        constraints = [
            # A message belongs to one conversation per mailbox.
            models.UniqueConstraint(fields=["mailbox", "message"], name="conv_message_once"),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} in conversation {self.conversation_id}"


class ConversationEvent(models.Model):
    """One step of a conversation's history: who did what, when and why."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", "assigned"
        UNASSIGNED = "unassigned", "unassigned"
        STATUS = "status", "status changed"
        SNOOZED = "snoozed", "snoozed"
        WOKE = "woke", "woke"
        REOPENED = "reopened", "reopened"
        REPLIED = "replied", "replied"
        MOVED = "moved", "moved"

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    # None: Postroom itself (a rule, the job queue, a customer's email).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Whom it is about: the new responsible person, the replier...
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="conv_event_time"),
            # The dashboard's replies of a period.
            models.Index(
                fields=["created_at"],
                include=["actor", "conversation"],
                condition=models.Q(kind="replied"),
                name="conv_event_replies",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on conversation {self.conversation_id}"

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        if self.kind == self.Kind.REPLIED:
            keep_first_reply(self.conversation_id, self.created_at, self.detail)


def keep_first_reply(conversation_id: int, replied_at, detail: dict | None) -> None:
    """A reply was recorded: it is its conversation's first reply unless an earlier one
    is (a forward is no reply). One conditional UPDATE, safe in any order of arrival."""
    detail = detail or {}
    if detail.get("forward"):
        return
    waited = detail.get("waited_seconds")
    Conversation.objects.filter(pk=conversation_id).filter(
        models.Q(first_reply_at__isnull=True) | models.Q(first_reply_at__gt=replied_at)
    ).update(
        first_reply_at=replied_at,
        first_reply_seconds=None if waited is None else int(waited),
    )


class Comment(models.Model):
    """An internal note on a conversation: never sent, never quoted in a reply."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    mentions = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="conv_comment_time")]

    def __str__(self) -> str:
        return self.body[:80]


class ReplyPresence(models.Model):
    """Someone is writing a reply to a conversation, as of `seen_at` (their compose form
    says so every few seconds); kept in the database so every web process sees it."""

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    seen_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["conversation", "user"], name="reply_presence_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} replying to {self.conversation_id}"


def outside_spam(message_ids: list[int], mailbox: Mailbox) -> models.QuerySet:
    """Those of the messages that have a copy in `mailbox` outside its spam folder."""
    return (
        MessageCopy.objects.filter(message_id__in=message_ids, mailbox=mailbox)
        .exclude(folder__role=Folder.Role.SPAM)
        .values_list("message_id", flat=True)
        .distinct()
    )


def quarantined_in(mailbox: Mailbox) -> models.QuerySet[Message]:
    return Message.objects.filter(
        status=Message.Status.QUARANTINED, copies__mailbox=mailbox
    ).distinct()


def listed_conversations(mailbox: Mailbox) -> models.QuerySet[Conversation]:
    """The mailbox's conversation list, newest first, each with `is_unread`: those with
    an email the mailbox still holds (`threads.copies_removed` keeps the count)."""
    return with_unread(Conversation.objects.filter(mailbox=mailbox, message_count__gt=0))


def with_unread(conversations: models.QuerySet) -> models.QuerySet:
    """Annotate `is_unread`: some copy of one of its messages in this mailbox lacks \\Seen.

    Written from the conversation's links down to their copies, without a join through
    mail_message: in that shape PostgreSQL probes a few index entries per listed
    conversation, where the join made it hash every unseen copy of every mailbox first
    (21 ms instead of 3 ms for a page of 50 at 100,000 messages; bench/search_bench.py).
    """
    unseen = MessageCopy.objects.filter(
        message_id=OuterRef("message_id"),
        mailbox_id=OuterRef(OuterRef("mailbox_id")),
        is_seen=False,
    )
    links = ConversationMessage.objects.filter(conversation=OuterRef("pk"))
    return conversations.annotate(is_unread=Exists(links.filter(Exists(unseen))))
