"""Which mail retention removes, and why: the rules in one place.

- Mail not bound to a CRM item or a task is removed from Postroom (never from the
  mail server) N days after it reached the mailbox; N is the mailbox's own choice or
  the organisation's default (30 days; 90; or keep).
- Mail bound to a CRM item (its Activity is on an item's timeline) stays as long as
  that activity does; mail bound to a task (the task of a reply deadline, on the
  email's conversation) stays as long as the task does.
- Mail of an IMAP mailbox is never removed while it is inside the mailbox's initial
  fetch window (`initial_days`): a sync that starts the folder again (a new
  UIDVALIDITY, a widened window) fetches that window, and would bring it back.
  Age is counted in whole days, with one more day for the server's time zone (the
  window is a date on the server), so removed mail is older than any window date.

A rule is applied per mailbox, to that mailbox's copies: an email another mailbox
still holds stays in Postroom for that one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from postroom.crm.models import TimelineEntry
from postroom.mail.models import ConversationMessage, Message, MessageCopy
from postroom.mailboxes.models import Mailbox
from postroom.routing.models import SlaClock

from .models import DEFAULT_DAYS, MailboxRetention, OrganisationRetention

# The most days an administrator may choose (beyond that, "keep").
MAX_DAYS = 36500


class RetentionError(ValueError):
    """A choice that cannot be saved; the message says why."""


def organisation_days() -> int | None:
    """The organisation's default: days, or None to keep."""
    row = OrganisationRetention.objects.filter(pk=1).first()
    return DEFAULT_DAYS if row is None else row.days


def check_days(days: int | None) -> None:
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise RetentionError(f"retention must be between 1 and {MAX_DAYS} days, or keep")


def do_set_organisation_days(days: int | None, *, acting_user=None) -> None:
    check_days(days)
    OrganisationRetention.objects.update_or_create(
        pk=1, defaults={"days": days, "updated_by": acting_user}
    )


def do_set_mailbox_days(mailbox: Mailbox, days: int | None, *, follow_default: bool = False,
                        acting_user=None) -> None:  # fmt: skip
    """The mailbox's own retention (None: keep); `follow_default` drops it."""
    if follow_default:
        MailboxRetention.objects.filter(mailbox=mailbox).delete()
        return
    check_days(days)
    MailboxRetention.objects.update_or_create(
        mailbox=mailbox, defaults={"days": days, "updated_by": acting_user}
    )


@dataclass(frozen=True)
class Rule:
    """What retention does to one mailbox: `cutoff` None keeps everything."""

    mailbox: Mailbox
    days: int | None  # the mailbox's (or the default's) days; None: keep
    own: bool  # the mailbox's own choice, not the organisation's default
    effective_days: int | None  # after the initial fetch window
    cutoff: datetime | None  # copies received before it go
    all_unlinked: bool = False  # every unlinked email, whatever its age
    message_ids: tuple[int, ...] | None = None  # only these (a deleted task's)
    why: str = ""  # the rule's name in the log, when not the days

    @property
    def label(self) -> str:
        if self.why:
            return self.why
        if self.all_unlinked:
            return "all unlinked mail"
        if self.days is None:
            return "keep"
        where = "mailbox" if self.own else "organisation default"
        text = f"{self.days} days ({where})"
        if self.effective_days != self.days:
            window = self.mailbox.initial_days
            text += f", held {self.effective_days} days by the {window}-day fetch window"
        return text


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    """Mail received before this is older than `days` whole days, with a day to spare
    for the server's time zone: the start (UTC) of the day `days + 1` days ago."""
    today = (now or timezone.now()).astimezone(UTC).date()
    return datetime.combine(today - timedelta(days=days + 1), time.min, tzinfo=UTC)


def rule_for(
    mailbox: Mailbox, *, default: int | None | object = ..., own: dict | None = None, now=None
) -> Rule:
    """The mailbox's rule now; `default` and `own` (mailbox id -> its own days, for
    every mailbox that has its own) save queries per mailbox in a loop."""
    if own is None:
        rows = MailboxRetention.objects.filter(mailbox=mailbox)
        own = dict(rows.values_list("mailbox_id", "days"))
    if mailbox.pk in own:
        days, is_own = own[mailbox.pk], True
    else:
        days = organisation_days() if default is ... else default
        is_own = False
    if days is None:
        return Rule(mailbox, None, is_own, None, None)
    effective = max(days, mailbox.initial_days) if mailbox.has_imap else days
    return Rule(mailbox, days, is_own, effective, cutoff_for(effective, now))


def unlinked_rule(mailbox: Mailbox, why: str = "", message_ids=None) -> Rule:
    """Every unlinked email of the mailbox (sync switched off, owner deactivated), or
    those of `message_ids` (a deleted task's)."""
    ids = None if message_ids is None else tuple(message_ids)
    return Rule(mailbox, None, True, None, None, all_unlinked=True, message_ids=ids, why=why)


# ----------------------------------------------------------------------- binding


def bound_to_item():
    """An email on some CRM item's timeline (its activity is there)."""
    return Exists(TimelineEntry.objects.filter(activity__message_id=OuterRef("message_id")))


def bound_to_task():
    """An email of a conversation that has a task (a reply deadline's) in any mailbox."""
    with_task = SlaClock.objects.filter(
        conversation_id=OuterRef("conversation_id"), task__isnull=False
    )
    return Exists(
        ConversationMessage.objects.filter(message_id=OuterRef("message_id")).filter(
            Exists(with_task)
        )
    )


def unbound(copies: QuerySet[MessageCopy]) -> QuerySet[MessageCopy]:
    return copies.exclude(bound_to_item()).exclude(bound_to_task())


def expired_copies(rule: Rule) -> QuerySet[MessageCopy]:
    """The copies of the rule's mailbox that it removes now (unordered)."""
    copies = MessageCopy.objects.filter(mailbox=rule.mailbox)
    if rule.message_ids is not None:
        copies = copies.filter(message_id__in=rule.message_ids)
    if not rule.all_unlinked:
        if rule.cutoff is None:
            return MessageCopy.objects.none()
        # A copy without INTERNALDATE (mail Postroom wrote itself) counts from when
        # its email entered Postroom.
        # The email is read only for those: a join to every copy's email cost 0.4 s a
        # mailbox at a million messages, a range on the (mailbox, internal_date) index
        # does not read them (PostgreSQL stops at the first true branch of the OR).
        written_before = Message.objects.filter(
            pk=OuterRef("message_id"), created_at__lt=rule.cutoff
        )
        copies = copies.filter(
            Q(internal_date__lt=rule.cutoff)
            | (Q(internal_date__isnull=True) & Exists(written_before))
        )
    return unbound(copies)
