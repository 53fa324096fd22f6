from django.contrib.auth.models import AbstractUser
from django.db import models, transaction
from django.db.models.functions import Lower

from postroom.lib.addresses import normalize_address


class User(AbstractUser):
    """A colleague who works in Postroom.

    Custom from day one so that later fields (department, signature, BCC tracker
    address) are plain columns rather than a profile table.
    """

    email = models.EmailField("email address", unique=True)
    # Senders whose remote images this user always sees (normalised addresses). A short
    # list read with the user on every message view, so a column, not a table.
    images_allowed_from = models.JSONField(default=list, blank=True)
    # What the user may do in the CRM (postroom/crm/access.py); the union of these roles'
    # rights. Administrators (is_superuser) may do everything whatever their roles.
    roles = models.ManyToManyField("Role", blank=True, related_name="users")
    # The IANA zone (Europe/Berlin) times are shown in for this user; empty until set on
    # the profile or taken from the browser on first login (accounts.timezones).
    time_zone = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        # The full name (username without one), "(deactivated)" when they may no longer
        # log in: every picker and every "responsible" shown through str() says so.
        from .people import person_label

        return person_label(self)

    @property
    def display_name(self) -> str:
        from .people import display_name

        return display_name(self)

    def shows_images_from(self, address: str) -> bool:
        address = normalize_address(address)
        return bool(address) and address in self.images_allowed_from

    def allow_images_from(self, address: str) -> None:
        self._change_images_allowed(normalize_address(address), allow=True)

    def disallow_images_from(self, address: str) -> None:
        self._change_images_allowed(normalize_address(address), allow=False)

    @transaction.atomic
    def _change_images_allowed(self, address: str, *, allow: bool) -> None:
        if not address:
            return
        # Re-read under a row lock: two tabs changing the list must not undo each other.
        current = (
            User.objects.select_for_update()
            .values_list("images_allowed_from", flat=True)
            .get(pk=self.pk)
        )
        allowed = [a for a in current if a != address] + ([address] if allow else [])
        User.objects.filter(pk=self.pk).update(images_allowed_from=sorted(allowed))
        self.images_allowed_from = sorted(allowed)


class Department(models.Model):
    """A team (Sales, Support) with its members and a head.

    Backed one-to-one by a django Group: membership *is* the group's membership, so a
    mailbox grant to the department's group (MailboxGrant.group) is a grant to the
    department, and mailboxes need no knowledge of departments. The group's name follows
    the department's (do_rename_department).
    """

    name = models.CharField(max_length=150, unique=True)
    group = models.OneToOneField("auth.Group", on_delete=models.CASCADE, related_name="department")
    head = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="headed_departments"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def members(self) -> models.QuerySet[User]:
        return self.group.user_set.all()


class Role(models.Model):
    """A named set of CRM rights (RolePermission rows), given to users."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    # New users (do_create_user) get the default roles, so that nobody starts locked out.
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RolePermission(models.Model):
    """How far a role's right to do `action` on `entity` reaches.

    `entity` is "lead", "contact", "company", "deal", "smart:<slug>" for one smart type,
    or "smart:*" for every smart type without a row of its own. No row means no right.
    """

    class Action(models.TextChoices):
        READ = "read", "Read"
        CREATE = "create", "Create"
        EDIT = "edit", "Edit"
        DELETE = "delete", "Delete"

    class Scope(models.IntegerChoices):
        # Ordered: a wider scope includes the narrower ones, so rights combine by max().
        NONE = 0, "None"
        OWN = 1, "Own"
        DEPARTMENT = 2, "Department"
        ALL = 3, "All"

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="permissions")
    entity = models.CharField(max_length=110)
    action = models.CharField(max_length=8, choices=Action.choices)
    scope = models.PositiveSmallIntegerField(choices=Scope.choices, default=Scope.NONE)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["role", "entity", "action"], name="accounts_role_permission_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.action} {self.entity} ({self.get_scope_display()})"


class NotificationKind(models.TextChoices):
    """What a notification is about; each user chooses per kind in-app and/or email."""

    ASSIGNED = "assigned", "Assigned to you"
    MENTIONED = "mentioned", "Mentioned in a comment"
    DEADLINE_SOON = "deadline_soon", "A reply deadline is near"
    DEADLINE_BREACHED = "deadline_breached", "A reply deadline was missed"
    CUSTOMER_REPLIED = "customer_replied", "The customer replied on your conversation"
    EMAIL_OPENED = "email_opened", "A customer first opened an email you sent"
    OTHER = "other", "Everything else (CRM items, bounces, mailboxes)"


class Notification(models.Model):
    """Something a user should know about, shown in the header until read."""

    Kind = NotificationKind

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices, default="other")
    text = models.TextField()
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at"], name="accounts_notif_unread")]

    def __str__(self) -> str:
        return self.text[:80]


class NotificationPreference(models.Model):
    """A user's choice for one kind of notification; no row: the kind's default
    (in the app, not by email)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notification_prefs")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    in_app = models.BooleanField(default=True)
    by_email = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="accounts_notif_pref_once")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: app={self.in_app} email={self.by_email}"


class NotificationEmail(models.Model):
    """A notification to send by email to a colleague (never a customer): written in
    the transaction that caused it, sent once by a job from the system sender."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=NotificationKind.choices)
    to = models.CharField(max_length=320)
    subject = models.CharField(max_length=300)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the current attempt began (status sending): an attempt far older lost its job
    # runner, and housekeeping queues the email again.
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["status", "created_at"], name="accounts_notif_mail_st")]

    def __str__(self) -> str:
        return f"{self.subject} to {self.to} ({self.status})"
