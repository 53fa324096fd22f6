"""The CRM: contacts, companies, leads, deals, smart items, activities, tasks, timeline.

Every item kind (Lead, Contact, Company, Deal, SmartItem) has a `responsible` person
and a timeline; `postroom.crm.items` lists them so UI and permissions can treat them
alike.
"""

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.urls import reverse

from postroom.mail.models import Message
from postroom.mailboxes.models import Mailbox


def normalise_email(address: str) -> str:
    """The form emails are stored and matched in: trimmed, lower-case."""
    return (address or "").strip().lower()


def domain_of(address: str) -> str:
    return normalise_email(address).rpartition("@")[2]


def _responsible():
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


def _source_mailbox():
    return models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class Company(models.Model):
    name = models.CharField(max_length=300)
    responsible = _responsible()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("web:company", args=[self.pk])


class CompanyDomain(models.Model):
    """A mail domain of a company: a new person writing from it may join the company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="domains")
    # Lower-case, without "@": "customer.test".
    domain = models.CharField(max_length=253, unique=True)

    def __str__(self) -> str:
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.domain.strip().lower().lstrip("@")
        super().save(*args, **kwargs)


class Contact(models.Model):
    name = models.CharField(max_length=300)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    responsible = _responsible()
    source_mailbox = _source_mailbox()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name or self.primary_email or f"contact {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("web:contact", args=[self.pk])

    @property
    def primary_email(self) -> str:
        """The primary email, else the first; uses prefetched `emails` when there."""
        emails = sorted(self.emails.all(), key=lambda e: (not e.is_primary, e.pk or 0))
        return emails[0].email if emails else ""


class ContactEmail(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="emails")
    # Normalised (normalise_email) so that capture matches with one indexed lookup.
    email = models.CharField(max_length=320, db_index=True)
    is_primary = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "email"], name="crm_contact_email_once"),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = normalise_email(self.email)
        super().save(*args, **kwargs)


class ContactPhone(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="phones")
    phone = models.CharField(max_length=64)

    def __str__(self) -> str:
        return self.phone


class Lead(models.Model):
    """An unqualified request, usually the first email of someone we do not know yet."""

    class Status(models.TextChoices):
        NEW = "new", "New"
        IN_PROGRESS = "in_progress", "In progress"
        CONVERTED = "converted", "Converted"
        JUNK = "junk", "Junk"

    title = models.CharField(max_length=500)
    name = models.CharField(max_length=300, blank=True)
    # Normalised (lower-case) so that later mail from the same sender finds the lead.
    email = models.CharField(max_length=320, blank=True, db_index=True)
    phone = models.CharField(max_length=64, blank=True)
    company_name = models.CharField(max_length=300, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    responsible = _responsible()
    source_mailbox = _source_mailbox()
    # What the lead became (do_convert_lead).
    converted_contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    converted_deal = models.ForeignKey(
        "Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    OPEN_STATUSES = (Status.NEW, Status.IN_PROGRESS)

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("web:lead", args=[self.pk])

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class Pipeline(models.Model):
    """A sales funnel: the stages a deal goes through."""

    name = models.CharField(max_length=200)
    sort = models.IntegerField(default=0)
    # The pipeline new deals go to; the data migration creates "Sales".
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["sort", "pk"]

    def __str__(self) -> str:
        return self.name

    DEFAULT_STAGES = (("New", "open"), ("In progress", "open"), ("Won", "won"), ("Lost", "lost"))

    @classmethod
    def default(cls) -> "Pipeline":
        """The pipeline new deals go to; "Sales" is made again if every pipeline is gone
        (the migrations make it; a flushed test database has none)."""
        found = cls.objects.filter(is_default=True).first() or cls.objects.first()
        if found is None:
            found = cls.objects.create(name="Sales", is_default=True)
            for i, (name, semantics) in enumerate(cls.DEFAULT_STAGES):
                Stage.objects.create(pipeline=found, name=name, sort=i * 10, semantics=semantics)
        return found

    def first_stage(self) -> "Stage":
        return self.stages.filter(semantics=Stage.Semantics.OPEN).order_by("sort", "pk").first()


class SmartType(models.Model):
    """A custom CRM entity defined by an admin, such as "Support Request"."""

    name = models.CharField(max_length=200)
    # What a mailbox names in crm_smart_type ("smart:support-request").
    slug = models.SlugField(max_length=100, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def first_stage(self) -> "Stage":
        return self.stages.filter(semantics=Stage.Semantics.OPEN).order_by("sort", "pk").first()


class Stage(models.Model):
    """A step of a pipeline (deals) or of a smart type (its items)."""

    class Semantics(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won"
        LOST = "lost", "Lost"

    pipeline = models.ForeignKey(
        Pipeline, null=True, blank=True, on_delete=models.CASCADE, related_name="stages"
    )
    smart_type = models.ForeignKey(
        SmartType, null=True, blank=True, on_delete=models.CASCADE, related_name="stages"
    )
    name = models.CharField(max_length=200)
    sort = models.IntegerField(default=0)
    semantics = models.CharField(max_length=8, choices=Semantics.choices, default=Semantics.OPEN)

    class Meta:
        ordering = ["sort", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(pipeline__isnull=False, smart_type__isnull=True)
                | Q(pipeline__isnull=True, smart_type__isnull=False),
                name="crm_stage_of_pipeline_xor_smart_type",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.semantics == self.Semantics.OPEN


class StagedQuerySet(models.QuerySet):
    """Deals and smart items: open ones are those in a stage with open semantics."""

    def open(self):
        return self.filter(stage__semantics=Stage.Semantics.OPEN)

    def closed(self):
        return self.exclude(stage__semantics=Stage.Semantics.OPEN)


class StagedItem(models.Model):
    """What deals and smart items share: a title, a stage that says whether the item is
    open, a responsible person, the mailbox whose mail created it, when it closed."""

    title = models.CharField(max_length=500)
    responsible = _responsible()
    source_mailbox = _source_mailbox()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = StagedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.stage.is_open


class Deal(StagedItem):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="deals")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="deals")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    # The lead this deal was converted from.
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="deals"
    )
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta(StagedItem.Meta):
        pass

    def get_absolute_url(self) -> str:
        return reverse("web:deal", args=[self.pk])


class SmartField(models.Model):
    """A field of a smart type; item values live in SmartItem.data under `key`."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Number"
        DATE = "date", "Date"
        CHOICE = "choice", "Choice"

    smart_type = models.ForeignKey(SmartType, on_delete=models.CASCADE, related_name="fields")
    name = models.CharField(max_length=200)
    key = models.SlugField(max_length=100)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.TEXT)
    # For kind choice: the allowed values, a list of strings.
    choices = models.JSONField(default=list, blank=True)
    sort = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["smart_type", "key"], name="crm_smart_field_key_once"),
        ]

    def __str__(self) -> str:
        return self.name


class SmartItem(StagedItem):
    smart_type = models.ForeignKey(SmartType, on_delete=models.PROTECT, related_name="items")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="smart_items")
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="smart_items"
    )
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="smart_items"
    )
    # Field values by SmartField.key.
    data = models.JSONField(default=dict, blank=True)

    class Meta(StagedItem.Meta):
        pass

    def get_absolute_url(self) -> str:
        return reverse("web:smart_item", args=[self.pk])


class Activity(models.Model):
    """An email (or call, meeting) on CRM items; one per email, bound to many items."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"

    class Direction(models.TextChoices):
        INCOMING = "in", "Incoming"
        OUTGOING = "out", "Outgoing"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    direction = models.CharField(max_length=4, choices=Direction.choices)
    subject = models.TextField(blank=True)
    # One activity per email, however many mailboxes saw it.
    message = models.OneToOneField(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="activity"
    )
    responsible = _responsible()
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Whose CRM rule decided what an incoming email made: of all the mailboxes that hold
    # it, the one first in the CRM precedence (capture.py); shown on the email.
    rule_mailbox = models.ForeignKey(
        Mailbox, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name_plural = "activities"

    def __str__(self) -> str:
        return self.subject


class Task(models.Model):
    """Work with a responsible person and a deadline, on a CRM item (or on nothing)."""

    title = models.CharField(max_length=500)
    responsible = _responsible()
    deadline = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    item = GenericForeignKey("content_type", "object_id")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["done_at", "deadline", "pk"]
        indexes = [
            models.Index(fields=["content_type", "object_id"]),
            models.Index(fields=["responsible", "done_at"]),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class TimelineEntry(models.Model):
    """What the timeline of a CRM item shows; an entry with an activity binds it to the item."""

    class Kind(models.TextChoices):
        ACTIVITY = "activity", "Activity"
        CREATED = "created", "Created"
        COMMENT = "comment", "Comment"
        STAGE = "stage", "Stage change"
        TASK = "task", "Task"
        READ = "read", "Read"

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    item = GenericForeignKey("content_type", "object_id")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    activity = models.ForeignKey(
        Activity, null=True, blank=True, on_delete=models.CASCADE, related_name="entries"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.CASCADE, related_name="entries"
    )
    text = models.TextField(blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["content_type", "object_id", "-occurred_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id", "activity"],
                condition=models.Q(activity__isnull=False),
                name="crm_activity_once_per_item",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.content_type.model} {self.object_id}"


class CrmSettings(models.Model):
    """The organisation's CRM settings, one row (pk 1), edited by administrators; read
    through postroom.crm.organisation, which caches them. No row yet: the defaults."""

    # The organisation's own mail domains: mail from them is a colleague's, never a
    # lead. Until an administrator saves them: POSTROOM_INTERNAL_DOMAINS with the
    # domains of the shared mailboxes and of the users' addresses.
    internal_domains = models.JSONField(default=list, blank=True)
    # A contact saved by hand without a company joins the company of its address's
    # domain (as captured contacts do when their mailbox says so); off: it is offered.
    join_company_by_domain = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = verbose_name_plural = "CRM settings"

    def __str__(self) -> str:
        return "CRM settings"
