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


class SlaPolicy(models.Model):
    """Reply deadlines: "first reply within N minutes, next replies within M", counted
    in the working time of a calendar (none: around the clock). A mailbox's policy (rule
    empty) holds for its mail; a distribution rule's policy, for the mail that rule
    assigned. A breach is told to the responsible person, and `grace_minutes` of working
    time later, when still unanswered, to the supervisor: the policy's, else the
    mailbox's managers (see sla.supervisors_of)."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="sla_policies")
    rule = models.OneToOneField(
        DistributionRule,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policy",
    )
    calendar = models.ForeignKey(
        BusinessHours, null=True, blank=True, on_delete=models.PROTECT, related_name="sla_policies"
    )
    first_reply_minutes = models.PositiveIntegerField(default=120)
    next_reply_minutes = models.PositiveIntegerField(default=480)
    grace_minutes = models.PositiveIntegerField(default=60)
    supervisor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        constraints = [
            models.UniqueConstraint(
                fields=["mailbox"],
                condition=Q(rule__isnull=True),
                name="routing_sla_one_per_mailbox",
            ),
        ]

    def __str__(self) -> str:
        minutes = f"{self.first_reply_minutes}/{self.next_reply_minutes} min"
        return f"SLA of {self.rule or f'mailbox {self.mailbox_id}'}: {minutes}"


class SlaClock(models.Model):
    """One reply deadline of a conversation: started when the customer began to wait,
    ended by a reply (answered) or by closing the conversation (stopped). At most one
    runs per conversation. The sweep (sla.sweep) finds what to raise by partial indexes
    on the running clocks: never a scan per conversation."""

    class Kind(models.TextChoices):
        FIRST = "first", "First reply"
        NEXT = "next", "Next reply"

    class Outcome(models.TextChoices):
        ANSWERED = "answered", "Answered"
        STOPPED = "stopped", "Stopped (closed without a reply)"

    conversation = models.ForeignKey(
        "mail.Conversation", on_delete=models.CASCADE, related_name="sla_clocks"
    )
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(SlaPolicy, null=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    task = models.ForeignKey("crm.Task", null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    escalate_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, blank=True)
    soon_notified_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)  # when the breach was raised
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(ended_at__isnull=True),
                name="routing_sla_one_running_clock",
            ),
        ]
        indexes = [
            # The sweep: running clocks not yet warned / breached / escalated, by time.
            models.Index(
                fields=["due_at"],
                condition=Q(ended_at__isnull=True, soon_notified_at__isnull=True),
                name="routing_sla_soon",
            ),
            models.Index(
                fields=["due_at"],
                condition=Q(ended_at__isnull=True, breached_at__isnull=True),
                name="routing_sla_due",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=Q(ended_at__isnull=True, escalated_at__isnull=True),
                name="routing_sla_escalate",
            ),
            # The dashboard: clocks of a mailbox by deadline.
            models.Index(fields=["mailbox", "due_at"], name="routing_sla_mailbox_due"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} reply to {self.conversation_id} due {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def hit(self) -> bool | None:
        """Answered in time (True), late or overdue (False), not decided yet (None)."""
        if self.outcome == self.Outcome.ANSWERED:
            return self.ended_at <= self.due_at
        return None if self.breached_at is None else False


# The auto-reply lives in a module of its own; imported here so that Django finds it.
from .autoreply_models import AutoReply, AutoReplyLog  # noqa: E402, F401


class RoutingChange(models.Model):
    """One committed change to what routing reads (rules, their people, grants,
    calendars, departments): a row each. Job runners keep each mailbox's loaded rules
    while the number of rows stays the same (rules.RuleSet.load), so a change made in
    the web process reaches the next email in every process, and an email costs one
    count instead of reading the rules. Rows are only ever added: a count, unlike a
    largest id, also moves when a transaction that took an earlier id commits later."""

    at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"routing change {self.pk} at {self.at}"
