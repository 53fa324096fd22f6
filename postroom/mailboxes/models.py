from django.conf import settings
from django.db import models
from django.db.models import Q

from postroom.lib import secretbox


class Security(models.TextChoices):
    SSL = "ssl", "Implicit TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None (plain text)"


class CrmRuleKind(models.TextChoices):
    """What mail from an unknown sender creates in the CRM.

    Kept on the Mailbox (not in routing) because capture, which runs before routing
    on the path of one email, must read it without importing routing.
    """

    LEAD = "lead", "Create a lead"
    CONTACT_DEAL = "contact-deal", "Create a contact and a deal"
    SMART = "smart", "Create a smart process item"
    NONE = "none", "Nothing"


class KindChangeError(ValueError):
    """A mailbox's kind, or a personal mailbox's owner, was to change."""


class MailboxQuerySet(models.QuerySet):
    def update(self, **kwargs):
        # A bulk update cannot tell a change from a rewrite of the same value: refused.
        if {"kind", "owner", "owner_id"} & kwargs.keys():
            raise KindChangeError("a mailbox's kind and owner are set when it is connected")
        return super().update(**kwargs)


class Mailbox(models.Model):
    """One connected address, shared or personal for good.

    A personal mailbox is its owner's alone, administrators included: were its kind or
    its owner to change, someone else would read it. So both are fixed once it is saved
    (`save` and `update` refuse), whatever page, command or admin tries.
    """

    class Kind(models.TextChoices):
        SHARED = "shared", "Shared"
        PERSONAL = "personal", "Personal"

    class Status(models.TextChoices):
        NEW = "new", "Not synced yet"
        OK = "ok", "Connected"
        AUTH_FAILED = "auth_failed", "Authentication failed"
        UNREACHABLE = "unreachable", "Server unreachable"
        ERROR = "error", "Error"

    address = models.EmailField(unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.SHARED)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT
    )

    # Empty for a mailbox fed only by the SMTP/LMTP ingress (no IMAP server).
    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(null=True, blank=True)
    imap_security = models.CharField(max_length=16, choices=Security.choices, blank=True)
    allow_self_signed = models.BooleanField(
        default=False,
        help_text=(
            "Accept the server's certificate even if it is self-signed or not trusted. The "
            "connection stays encrypted, but an attacker between Postroom and the server "
            "could read the mail and the password: only for a server you control."
        ),
    )
    username = models.CharField(max_length=255, blank=True)
    password_encrypted = models.TextField(editable=False)

    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(null=True, blank=True)
    smtp_security = models.CharField(max_length=16, choices=Security.choices, blank=True)
    # The SMTP login, when it differs from the IMAP one: empty, sending logs in with
    # `username` and the IMAP password (what most providers expect).
    smtp_username = models.CharField(max_length=255, blank=True)
    smtp_password_encrypted = models.TextField(blank=True, editable=False)

    crm_rule = models.CharField(max_length=16, choices=CrmRuleKind.choices, default="lead")
    crm_smart_type = models.CharField(
        max_length=100, blank=True, help_text="The smart process type, for the smart rule."
    )
    crm_notify = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="crm_notified_by_mailboxes",
        help_text="Notify these users of new CRM items created from this mailbox's mail.",
    )
    crm_route_to_manager = models.BooleanField(
        default=False,
        help_text="Route mail from existing clients to their managers: a client's new mail "
        "joins the open item owned by the client's responsible person.",
    )
    crm_join_company_domain = models.BooleanField(
        default=True,
        help_text="A new person writing from a known company's mail domain becomes a "
        "contact of that company.",
    )
    crm_responsible = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Responsible person of new CRM items (until distribution rules); "
        "empty: the mailbox's owner.",
    )

    # Which mailbox's CRM rule decides for an email that several mailboxes hold: the
    # lowest number first, then shared before personal, then the oldest mailbox.
    crm_precedence = models.PositiveIntegerField(
        default=100,
        help_text="For an email that reaches several mailboxes, the rule of the mailbox "
        "with the lowest number decides (shared before personal at equal numbers).",
    )

    initial_days = models.PositiveIntegerField(
        default=30, help_text="How many days back a new mailbox fetches."
    )
    poll_interval = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Seconds between polls when the server cannot push (IDLE); "
        "empty: POSTROOM_POLL_INTERVAL.",
    )

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    status_message = models.TextField(blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MailboxQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="shared") | Q(owner__isnull=False),
                name="mailboxes_personal_has_owner",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            self._refuse_kind_change()
        super().save(*args, **kwargs)
        self._saved_kind_owner = (self.kind, self.owner_id)

    @classmethod
    def from_db(cls, db, field_names, values):
        mailbox = super().from_db(db, field_names, values)
        loaded = mailbox.__dict__
        if "kind" in loaded and "owner_id" in loaded:
            mailbox._saved_kind_owner = (loaded["kind"], loaded["owner_id"])
        return mailbox

    def _refuse_kind_change(self) -> None:
        saved = getattr(self, "_saved_kind_owner", None)
        if saved is None:  # loaded without them (.only, .defer): read them to compare
            saved = Mailbox.objects.filter(pk=self.pk).values_list("kind", "owner_id").first()
            if saved is None:
                return
        kind, owner_id = saved
        if self.kind != kind:
            raise KindChangeError(f"{self.address} is a {kind} mailbox: its kind never changes")
        if kind == Mailbox.Kind.PERSONAL and self.owner_id != owner_id:
            raise KindChangeError(f"{self.address} is a personal mailbox: its owner never changes")

    def set_password(self, password: str) -> None:
        self.password_encrypted = secretbox.encrypt(settings.SECRET_KEY, password)

    def get_password(self) -> str:
        return secretbox.decrypt(settings.SECRET_KEY, self.password_encrypted)

    def set_smtp_password(self, password: str) -> None:
        """Empty clears it: sending then logs in with the IMAP password."""
        self.smtp_password_encrypted = (
            secretbox.encrypt(settings.SECRET_KEY, password) if password else ""
        )

    def smtp_login(self) -> tuple[str, str]:
        """(username, password) sending logs in with: the SMTP login's own parts where
        set, else the IMAP ones; no username at all means no login (a relay)."""
        if self.smtp_password_encrypted:
            password = secretbox.decrypt(settings.SECRET_KEY, self.smtp_password_encrypted)
        elif self.password_encrypted:
            password = self.get_password()
        else:
            password = ""
        return self.smtp_username or self.username, password

    @property
    def has_imap(self) -> bool:
        return bool(self.imap_host)

    @property
    def crm_rule_label(self) -> str:
        if self.crm_rule == CrmRuleKind.SMART:
            return f"smart:{self.crm_smart_type}"
        return self.crm_rule

    def warnings(self) -> list[str]:
        """Set-up mistakes a user should see on the mailbox's pages."""
        found = []
        if self.folders.filter(name__iexact="INBOX", role=Folder.Role.SPAM).exists():
            found.append(
                "The spam folder is set to INBOX: mail in the spam folder never reaches the "
                "CRM, so no mail of this mailbox does. Give INBOX the inbox role."
            )
        return found


class MailboxGrant(models.Model):
    """A user's or a group's access to a mailbox; each level includes the ones below."""

    class Level(models.IntegerChoices):
        READ = 1, "Read"
        REPLY = 2, "Reply"
        MANAGE = 3, "Manage"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE)
    level = models.PositiveSmallIntegerField(choices=Level.choices, default=Level.READ)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="mailboxes_grant_user_xor_group",
            ),
            models.UniqueConstraint(
                fields=["mailbox", "user"], condition=Q(user__isnull=False), name="grant_user_once"
            ),
            models.UniqueConstraint(
                fields=["mailbox", "group"],
                condition=Q(group__isnull=False),
                name="grant_group_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} on {self.mailbox_id} for {self.user or self.group}"


class Folder(models.Model):
    """A mailbox folder and its sync cursor."""

    class Role(models.TextChoices):
        INBOX = "inbox"
        SENT = "sent"
        SPAM = "spam"
        TRASH = "trash"
        ARCHIVE = "archive"
        DRAFTS = "drafts"
        OTHER = "other"

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=500)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OTHER)
    # A manager chose the role on the Folders page: the server's SPECIAL-USE flags, read
    # again on every refresh, no longer change it.
    role_is_chosen = models.BooleanField(default=False)
    is_synced = models.BooleanField(default=True)
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    highest_modseq = models.BigIntegerField(null=True, blank=True)
    # The initial fetch goes newest first: messages of the window below this UID are
    # still to fetch (null when done), `backfill_done` of `backfill_total` are stored.
    backfill_below = models.BigIntegerField(null=True, blank=True)
    backfill_total = models.PositiveIntegerField(default=0)
    backfill_done = models.PositiveIntegerField(default=0)
    # The days back the initial fetch covered: when the mailbox's `initial_days` grows
    # past it, the sync fetches the mail of the added days (null: set before this field).
    window_days = models.PositiveIntegerField(null=True, blank=True)
    # A manager asked for a sync now (e.g. a wider window): the worker holding the
    # folder's lease sees it within a lease round instead of at its next poll.
    sync_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["mailbox", "name"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="folder_name_once"),
        ]

    def __str__(self) -> str:
        return f"{self.mailbox.address}/{self.name}"


class TrackerAddress(models.Model):
    """A user's BCC tracker: the key their signed tracker address carries (see
    postroom/accounts/tracker.py) and the hidden personal mailbox, fed by the ingress
    only, that keeps the mail sent through it. Regenerating replaces the key, so the
    old address is refused."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bcc_tracker"
    )
    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="tracker")
    key = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)
    regenerated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"BCC tracker of {self.user}"


class ConnectionCheck(models.Model):
    """A mailbox being connected from a page: a job logs in off the request thread while
    the page polls this row. Its settings are kept here, the password encrypted like a
    Mailbox's and wiped once the check is over; the Mailbox is saved only when the
    server accepted the login."""

    class Status(models.TextChoices):
        CHECKING = "checking"
        CONNECTED = "connected"
        FAILED = "failed"

    class Failure(models.TextChoices):
        UNREACHABLE = "unreachable"
        NOT_IMAP = "not_imap"
        TLS = "tls"
        REFUSED = "refused"
        SMTP = "smtp"  # IMAP logged in, the SMTP server did not
        OTHER = "other"

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=Mailbox.Kind.choices)
    # ConnectionSettings without its password, and the choices the mailbox is saved with.
    connection = models.JSONField()
    options = models.JSONField(default=dict)
    password_encrypted = models.TextField(blank=True, editable=False)
    smtp_password_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CHECKING)
    failure = models.CharField(max_length=12, choices=Failure.choices, blank=True)
    # What the page says: our own words; an SMTP server's refusal in its own words.
    outcome = models.CharField(max_length=500, blank=True)
    mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.connection.get('address', '?')}: {self.status}"

    def set_password(self, password: str) -> None:
        self.password_encrypted = secretbox.encrypt(settings.SECRET_KEY, password)

    def get_password(self) -> str:
        return secretbox.decrypt(settings.SECRET_KEY, self.password_encrypted)

    def set_smtp_password(self, password: str) -> None:
        self.smtp_password_encrypted = (
            secretbox.encrypt(settings.SECRET_KEY, password) if password else ""
        )

    def get_smtp_password(self) -> str:
        if not self.smtp_password_encrypted:
            return ""
        return secretbox.decrypt(settings.SECRET_KEY, self.smtp_password_encrypted)


class OrganisationLimits(models.Model):
    """The limits an administrator sets to fit the organisation's plan: one row (pk 1),
    made on first read (postroom.mailboxes.limits). None is unlimited.

    The monthly quota of outgoing mail lives here too, beside the others on one
    settings page; outbound reads it. Its first value is POSTROOM_MONTHLY_QUOTA.
    """

    personal_per_user = models.PositiveIntegerField(null=True, blank=True)
    shared_mailboxes = models.PositiveIntegerField(null=True, blank=True)
    initial_days_max = models.PositiveIntegerField(null=True, blank=True)
    monthly_outgoing = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "organisation limits"

    def __str__(self) -> str:
        return "organisation limits"
