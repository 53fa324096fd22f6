"""Who becomes responsible for new mail: a mailbox's ordered distribution rules, the
business-hours calendars they use, the round-robin turn of each rule and who is away.

CrmRule stays on the Mailbox (mailboxes.models.CrmRuleKind): capture reads it before
routing on the path of one email.
"""

from datetime import date, datetime

from django.conf import settings
from django.db import models
from django.db.models import Q

from postroom.mailboxes.models import Mailbox

from . import calendars


class BusinessHours(models.Model):
    """A calendar: working intervals of a week in a time zone, and holidays."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC")
    # [[weekday (0 = Monday), start minute, end minute], ...]: calendars.Interval
    intervals = models.JSONField(default=list)
    holidays = models.JSONField(default=list, blank=True)  # ISO dates

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "business hours"

    def __str__(self) -> str:
        return self.name

    def is_open(self, at: datetime) -> bool:
        return calendars.is_open(self.intervals, self.holidays, self.time_zone, at)

    @property
    def week_text(self) -> str:
        return calendars.format_week(self.intervals)

    @property
    def holidays_text(self) -> str:
        return "\n".join(self.holidays)


class Absence(models.Model):
    """A colleague away (holiday, sick) from one day to another, both included: a
    round-robin that skips people away passes them over."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="absences"
    )
    starts_on = models.DateField()
    ends_on = models.DateField()
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["starts_on", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=models.F("starts_on")), name="routing_absence_ends_after"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} away {self.starts_on}..{self.ends_on}"

    @classmethod
    def away_on(cls, day: date, users=None) -> set[int]:
        rows = cls.objects.filter(starts_on__lte=day, ends_on__gte=day)
        if users is not None:
            rows = rows.filter(user__in=users)
        return set(rows.values_list("user_id", flat=True))


class DistributionRule(models.Model):
    """One of a mailbox's rules, tried in `position` order: the first that matches and
    names someone available decides who is responsible.

    A rule is a condition (its kind) and a target: `target_user`, else a queue (the
    `queue_users` and the members of `department`) served in turn. A business-hours rule
    gives the target during the calendar's hours and `on_call` outside them.
    """

    class Kind(models.TextChoices):
        KEYWORD = "keyword", "Keyword in subject or body"
        SENDER = "sender", "Sender address or domain"
        MANAGER = "manager", "The client's existing responsible manager"
        HOURS = "hours", "Business hours (on-call person outside them)"
        ROUND_ROBIN = "round-robin", "Round-robin over a queue"

    class MatchIn(models.TextChoices):
        SUBJECT = "subject", "Subject"
        BODY = "body", "Body"
        BOTH = "both", "Subject or body"

    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="distribution_rules"
    )
    position = models.PositiveIntegerField(default=0)
    enabled = models.BooleanField(default=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)

    # keyword: one per line; whole words, any case, unless regular expressions.
    keywords = models.TextField(blank=True)
    is_regex = models.BooleanField(default=False)
    match_in = models.CharField(max_length=8, choices=MatchIn.choices, default=MatchIn.BOTH)
    # sender: addresses (anna@partner.com) or domains (partner.com, with its subdomains).
    senders = models.TextField(blank=True)
    # hours
    calendar = models.ForeignKey(
        BusinessHours, null=True, blank=True, on_delete=models.PROTECT, related_name="rules"
    )
    on_call = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    # The target: one person, else a queue served in turn.
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    queue_users = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    department = models.ForeignKey(
        "accounts.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    skip_away = models.BooleanField(default=False)
    load_limit = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Pass over people responsible for this many open conversations or more.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["mailbox", "position", "pk"]
        indexes = [models.Index(fields=["mailbox", "position"], name="routing_rule_order")]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()} #{self.position}"

    @property
    def has_queue(self) -> bool:
        return self.target_user_id is None


class RuleTurn(models.Model):
    """Whose turn it is in a rule's queue: the member who had the last one. Taken under
    this row's lock (roundrobin.take_turn), so concurrent runners never share a turn."""

    rule = models.OneToOneField(DistributionRule, on_delete=models.CASCADE, related_name="turn")
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    turns = models.PositiveBigIntegerField(default=0)

    def __str__(self) -> str:
        return f"turn of {self.rule_id}: {self.turns}"
