"""The dry run the retention page shows: fresh when it is cheap, else the last one a
job computed.

At a million messages the dry run reads every expiring copy and what it frees: tens of
seconds (bench/million.py), far too long for a page. So past RETENTION_PLAN_INLINE
copies in all, the page shows the plan a job (`compute_plan`, on the job queue like the
runs) saved on the organisation's row, with when it was computed; opening the page
asks for a new one when it is older than STALE_AFTER, and changing a rule or finishing
a run asks at once. While a job is asked and has not saved yet, the page says it is
computing. `postroom retention --dry-run` always computes a fresh one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from postroom.mail.models import MessageCopy

from .models import OrganisationRetention
from .planning import MailboxPlan, Plan, all_rules, dry_run

logger = logging.getLogger(__name__)

# A saved plan older than this is computed again when the page is opened; a job asked
# for longer than this without saving (a dead runner) is asked again.
STALE_AFTER = timedelta(minutes=10)
# Up to this many copies in all, the page computes the dry run itself (a fraction of a
# second); beyond, it shows the saved one.
INLINE_COPIES = 20_000


@dataclass
class PagePlan:
    plan: Plan
    computed_at: datetime | None  # None: no plan saved yet
    saved: bool  # the plan a job saved (not computed for this page)
    computing: bool  # a job is asked for a newer one


def inline_limit() -> int:
    return settings.POSTROOM.get("RETENTION_PLAN_INLINE", INLINE_COPIES)


def is_cheap() -> bool:
    """Few enough copies that the page can compute the dry run itself: counts at most
    limit + 1 rows of an index, whatever the database's size."""
    limit = inline_limit()
    return MessageCopy.objects.all()[: limit + 1].count() <= limit


def _row() -> OrganisationRetention:
    return OrganisationRetention.objects.get_or_create(pk=1)[0]


def ask(*, force: bool = False) -> bool:
    """Queue a job to compute the plan, unless one was asked for lately (`force`: the
    rules changed, so a plan under way is outdated too). True if one was queued."""
    from .jobs import compute_plan

    _row()
    now = timezone.now()
    rows = OrganisationRetention.objects.filter(pk=1)
    if not force:
        # One conditional write: several pages opened at once queue one job.
        waiting = Q(plan_wanted_at__gte=now - STALE_AFTER) & (
            Q(plan_computed_at__isnull=True) | Q(plan_wanted_at__gt=F("plan_computed_at"))
        )
        fresh = Q(plan_computed_at__gte=now - STALE_AFTER)
        rows = rows.exclude(waiting).exclude(fresh)
    if not rows.update(plan_wanted_at=now):
        return False
    transaction.on_commit(lambda: compute_plan.enqueue())
    return True


def outdated() -> None:
    """The rules changed or a run removed mail: a saved plan no longer holds. A small
    database computes its plan on the page and needs no job."""
    if not is_cheap():
        ask(force=True)


def compute_and_save() -> Plan:
    """Compute the dry run now and save it (the job's work); the time saved is when it
    started, so a rule changed meanwhile leaves it older than the request."""
    started = timezone.now()
    plan = dry_run(all_rules())
    _row()
    OrganisationRetention.objects.filter(pk=1).update(plan=to_json(plan), plan_computed_at=started)
    logger.info("retention plan saved: %s copies, %s bytes", plan.copies, plan.bytes)
    return plan


def to_json(plan: Plan) -> dict:
    return {
        "mailboxes": [
            [p.mailbox.pk, p.copies, p.messages, p.raw_bytes, p.attachment_bytes]
            for p in plan.mailboxes
        ]
    }


def from_json(data: dict | None) -> Plan:
    """The saved figures under today's rules; a mailbox the plan does not know (added
    since) is marked not counted rather than shown as removing nothing."""
    figures = {row[0]: row[1:] for row in (data or {}).get("mailboxes", [])}
    plan = Plan()
    for rule in all_rules():
        saved = figures.get(rule.mailbox.pk)
        if saved is None:
            plan.mailboxes.append(MailboxPlan(rule, counted=False))
        else:
            copies, messages, raw, attachments = saved
            plan.mailboxes.append(MailboxPlan(rule, copies, messages, raw, attachments))
    return plan


def for_page() -> PagePlan:
    """The plan the retention page shows, asking a job for a new one when it is due."""
    if is_cheap():
        return PagePlan(dry_run(all_rules()), timezone.now(), saved=False, computing=False)
    ask()
    row = _row()
    computing = row.plan_wanted_at is not None and (
        row.plan_computed_at is None or row.plan_wanted_at > row.plan_computed_at
    )
    return PagePlan(from_json(row.plan), row.plan_computed_at, saved=True, computing=computing)
