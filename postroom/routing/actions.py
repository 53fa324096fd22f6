"""Writes to routing: a mailbox's distribution rules (add, change, move, enable, delete),
business-hours calendars and absences. The web pages and `postroom rules` call these."""

import logging
from collections.abc import Iterable
from datetime import date

from django.db import transaction
from django.db.models import Max

from postroom.mailboxes.models import Mailbox

from . import calendars
from .changes import note_change
from .models import Absence, BusinessHours, DistributionRule, RuleTurn
from .rules import RuleError, check_rule

logger = logging.getLogger(__name__)

RULE_FIELDS = (
    "kind", "name", "enabled", "keywords", "is_regex", "match_in", "senders", "calendar",
    "on_call", "target_user", "department", "skip_away", "load_limit",
)  # fmt: skip


def _apply(rule: DistributionRule, fields: dict) -> list | None:
    queue = fields.pop("queue_users", None)
    unknown = set(fields) - set(RULE_FIELDS)
    if unknown:
        raise RuleError(f"unknown field(s): {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(rule, name, value)
    if rule.kind == DistributionRule.Kind.ROUND_ROBIN:
        rule.target_user = None
    return None if queue is None else list(queue)


@transaction.atomic
def do_add_rule(mailbox: Mailbox, *, acting_user=None, position: int | None = None, **fields):
    """A new rule, last unless `position` (1 = first) is given; refused with the reason
    (RuleError) when it cannot work."""
    rule = DistributionRule(mailbox=mailbox)
    queue = _apply(rule, fields) or []
    check_rule(rule, [u.pk for u in queue])
    last = mailbox.distribution_rules.aggregate(m=Max("position"))["m"] or 0
    rule.position = last + 1
    rule.save()
    rule.queue_users.set(queue)
    RuleTurn.objects.create(rule=rule)
    if position is not None:
        do_move_rule(rule, position)
    logger.info("%s added %s to %s", acting_user or "postroom", rule, mailbox.address)
    return rule


@transaction.atomic
def do_update_rule(rule: DistributionRule, *, acting_user=None, **fields) -> DistributionRule:
    queue = _apply(rule, fields)
    check_rule(rule, [u.pk for u in (rule.queue_users.all() if queue is None else queue)])
    rule.save()
    if queue is not None:
        rule.queue_users.set(queue)
    return rule


@transaction.atomic
def do_move_rule(rule: DistributionRule, position: int) -> None:
    """Put the rule at `position` (1 = first; past the end: last), renumbering the rest."""
    rules = list(
        DistributionRule.objects.select_for_update()
        .filter(mailbox_id=rule.mailbox_id)
        .order_by("position", "pk")
    )
    rules = [r for r in rules if r.pk != rule.pk]
    rules.insert(max(0, min(position - 1, len(rules))), rule)
    for number, item in enumerate(rules, 1):
        if item.position != number:
            DistributionRule.objects.filter(pk=item.pk).update(position=number)
        item.position = number
    note_change()  # update() sends no signal


def do_set_rule_enabled(rule: DistributionRule, enabled: bool) -> None:
    rule.enabled = enabled
    rule.save(update_fields=["enabled"])


@transaction.atomic
def do_delete_rule(rule: DistributionRule) -> None:
    mailbox_id = rule.mailbox_id
    rule.delete()
    for number, item in enumerate(
        DistributionRule.objects.filter(mailbox_id=mailbox_id).order_by("position", "pk"), 1
    ):
        if item.position != number:
            DistributionRule.objects.filter(pk=item.pk).update(position=number)


def do_save_calendar(
    calendar: BusinessHours | None, *, name: str, time_zone: str, week: str, holidays: str = ""
) -> BusinessHours:
    """Create or change a calendar from its text (calendars.parse_week); CalendarError
    says why it was refused."""
    name = name.strip()
    if not name:
        raise calendars.CalendarError("give the calendar a name")
    calendars.check_time_zone(time_zone)
    intervals = [i.as_list() for i in calendars.parse_week(week)]
    days = [d.isoformat() for d in calendars.parse_holidays(holidays)]
    others = BusinessHours.objects.filter(name=name)
    if calendar is not None:
        others = others.exclude(pk=calendar.pk)
    if others.exists():
        raise calendars.CalendarError(f"a calendar named {name!r} exists already")
    calendar = calendar or BusinessHours()
    calendar.name, calendar.time_zone = name, time_zone.strip()
    calendar.intervals, calendar.holidays = intervals, days
    calendar.save()
    return calendar


def do_delete_calendar(calendar: BusinessHours) -> None:
    used = calendar.rules.count()
    if used:
        raise calendars.CalendarError(
            f"{calendar} is used by {used} rule(s): change or delete them first"
        )
    calendar.delete()


def do_add_absence(user, starts_on: date, ends_on: date, note: str = "") -> Absence:
    if ends_on < starts_on:
        raise RuleError("the absence ends before it starts")
    return Absence.objects.create(user=user, starts_on=starts_on, ends_on=ends_on, note=note)


def do_remove_absence(absence: Absence) -> None:
    absence.delete()


def rules_of(mailbox: Mailbox) -> Iterable[DistributionRule]:
    """All of a mailbox's rules, in order, with what they name (for pages and the CLI)."""
    return (
        DistributionRule.objects.filter(mailbox=mailbox)
        .order_by("position", "pk")
        .select_related("target_user", "on_call", "calendar", "department__group")
        .prefetch_related("queue_users", "department__group__user_set")
    )
