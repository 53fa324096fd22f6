"""Tracking reports (issue 16, point 5): over a period and a set of mailboxes,

- open rate and click rate per sender, per mailbox and per template: of the tracked
  emails sent in the period, the share that at least one recipient opened (a real
  open: TrackedEmail.first_read_at, which outlives pruned events) and the share in
  which a link was clicked (a real click event);
- emails sent (the Outbox, sent in the period) and received (from customers, as the
  dashboard counts them) per day;
- leads and deals created from mail (an item whose source mailbox is set) per day and
  per mailbox.

Days are local days of the period's zone (routing.reports.Scope). Every figure is
computed from plain rows here, so the test can recompute it from the same rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import F, Q
from django.utils import timezone

from postroom.crm.models import Deal, Lead
from postroom.mailboxes.models import Mailbox
from postroom.outbound.models import MessageTemplate, OutboxMessage
from postroom.routing.reports import Scope, incoming_per_day

from .models import TrackedEmail, TrackingEvent

GROUPS = ("sender", "mailbox", "template")
NO_TEMPLATE = "(no template)"


@dataclass(frozen=True)
class Rate:
    label: str
    sent: int  # tracked emails sent in the period
    opened: int
    clicked: int

    @property
    def open_rate(self) -> float | None:
        return round(self.opened / self.sent, 4) if self.sent else None

    @property
    def click_rate(self) -> float | None:
        return round(self.clicked / self.sent, 4) if self.sent else None


def _day(moment) -> date:
    return timezone.localtime(moment).date()


def _in(scope: Scope, field: str) -> Q:
    return Q(**{f"{field}__gte": scope.since, f"{field}__lt": scope.until})


def tracked_rows(scope: Scope) -> list[dict]:
    """One row per tracked email sent in the period: who, from where, which template,
    whether it was opened and clicked."""
    rows = list(
        TrackedEmail.objects.filter(
            _in(scope, "outbox__sent_at"), outbox__mailbox_id__in=scope.mailbox_ids
        ).values(
            "pk",
            "first_read_at",
            author_id=F("outbox__author_id"),
            mailbox_id=F("outbox__mailbox_id"),
            template=F("outbox__composition__template"),
        )
    )
    clicked = set(
        TrackingEvent.objects.filter(
            email_id__in=[r["pk"] for r in rows], kind=TrackingEvent.Kind.CLICK, is_prefetch=False
        ).values_list("email_id", flat=True)
    )
    for row in rows:
        row["opened"] = row["first_read_at"] is not None
        row["clicked"] = row["pk"] in clicked
    return rows


def _labels(group: str, keys) -> dict:
    keys = [k for k in keys if k is not None]
    if group == "sender":
        users = get_user_model().objects.filter(pk__in=keys)
        return {u.pk: u.get_full_name() or u.get_username() for u in users}
    if group == "mailbox":
        return dict(Mailbox.objects.filter(pk__in=keys).values_list("pk", "name"))
    ids = [int(k) for k in keys if str(k).isdigit()]
    names = dict(MessageTemplate.objects.filter(pk__in=ids).values_list("pk", "name"))
    return {k: names.get(int(k), f"template {k} (deleted)") for k in keys if str(k).isdigit()}


def rates(rows: list[dict], group: str) -> list[Rate]:
    """Open and click rates of the rows per sender, mailbox or template, most sent first."""
    field = {"sender": "author_id", "mailbox": "mailbox_id", "template": "template"}[group]
    sent, opened, clicked = Counter(), Counter(), Counter()
    for row in rows:
        key = row[field]
        sent[key] += 1
        opened[key] += row["opened"]
        clicked[key] += row["clicked"]
    labels = _labels(group, sent)
    fallback = NO_TEMPLATE if group == "template" else "(nobody)"
    found = [
        Rate(
            labels.get(key, fallback) if key is not None else fallback, n, opened[key], clicked[key]
        )
        for key, n in sent.items()
    ]
    return sorted(found, key=lambda r: (-r.sent, r.label))


def sent_per_day(scope: Scope) -> list[tuple[date, int]]:
    moments = OutboxMessage.objects.filter(
        _in(scope, "sent_at"),
        mailbox_id__in=scope.mailbox_ids,
        status=OutboxMessage.Status.SENT,
    ).values_list("sent_at", flat=True)
    per_day = Counter(_day(m) for m in moments)
    return [(day, per_day.get(day, 0)) for day in scope.days()]


def _created_from_mail(model, scope: Scope):
    return model.objects.filter(_in(scope, "created_at"), source_mailbox_id__in=scope.mailbox_ids)


def items_per_day(scope: Scope) -> list[tuple[date, int, int]]:
    """(day, leads, deals) created from mail."""
    leads = Counter(
        _day(m) for m in _created_from_mail(Lead, scope).values_list("created_at", flat=True)
    )
    deals = Counter(
        _day(m) for m in _created_from_mail(Deal, scope).values_list("created_at", flat=True)
    )
    return [(day, leads.get(day, 0), deals.get(day, 0)) for day in scope.days()]


def items_per_mailbox(scope: Scope) -> list[tuple[str, int, int]]:
    """(mailbox name, leads, deals) created from mail in the period, for every mailbox."""
    per: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for i, model in enumerate((Lead, Deal)):
        for mailbox_id in _created_from_mail(model, scope).values_list(
            "source_mailbox_id", flat=True
        ):
            per[mailbox_id][i] += 1
    names = dict(Mailbox.objects.filter(pk__in=scope.mailbox_ids).values_list("pk", "name"))
    return sorted(
        ((names[pk], per[pk][0], per[pk][1]) for pk in scope.mailbox_ids),
        key=lambda row: (-(row[1] + row[2]), row[0]),
    )


def figures(scope: Scope) -> dict:
    rows = tracked_rows(scope)
    return {
        "rates": {group: rates(rows, group) for group in GROUPS},
        "sent": sent_per_day(scope),
        "received": incoming_per_day(scope),
        "items_per_day": items_per_day(scope),
        "items_per_mailbox": items_per_mailbox(scope),
    }
