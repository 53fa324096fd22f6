"""The inbox: the conversations of every mailbox a user may read, in working views.

Views (each ordered newest first, each served by an index of mail 0010):

    mine        open, the user is responsible, not snoozed
    unassigned  open, nobody is responsible, not snoozed
    open        all open, not snoozed
    waiting     pending: waiting on the customer, not snoozed
    snoozed     snoozed (open or pending), soonest back first
    unanswered  open, the customer has waited longer than `Filters.hours` (default
                UNANSWERED_HOURS), longest waiting first (or shortest: sort=shortest)
    closed      closed

Filters narrow a view: mailbox, responsible (a user or nobody), status (replaces the
view's own), has attachment; the web layer adds the CRM item filter (crm is further
along the layers than mail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import ExpressionWrapper, F, IntegerField, Q, QuerySet
from django.utils import timezone

from postroom.lib.id_lists import AmongIds
from postroom.mailboxes.access import mailboxes_for

from .models import Conversation

Status = Conversation.Status

# name -> label, in the navigation's order.
VIEWS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "open": "All open",
    "waiting": "Waiting on customer",
    "snoozed": "Snoozed",
    "unanswered": "Unanswered",
    "closed": "Closed",
}
DEFAULT_VIEW = "mine"
# Counts in the navigation stop here.
COUNT_CAP = 1000
NOBODY = "none"
# Unanswered mail: the customer waited longer than this many hours (the view's choice).
UNANSWERED_HOURS = 4


@dataclass(frozen=True)
class Filters:
    mailbox: int | None = None
    responsible: int | str | None = None  # a user's id, or NOBODY
    status: str | None = None
    has_attachment: bool = False
    hours: int | None = None  # Unanswered: waited longer than this
    shortest_first: bool = False  # Unanswered: the shortest wait first

    @classmethod
    def from_query(cls, params) -> Filters:
        """From a request's GET parameters; anything malformed is ignored, not an error."""
        mailbox = params.get("mailbox", "")
        responsible = params.get("responsible", "")
        status = params.get("status", "")
        return cls(
            mailbox=int(mailbox) if mailbox.isdigit() else None,
            responsible=(
                int(responsible)
                if responsible.isdigit()
                else NOBODY
                if responsible == NOBODY
                else None
            ),
            status=status if status in Status.values else None,
            has_attachment=params.get("attachment") == "1",
            hours=_hours(params.get("hours", "")),
            shortest_first=params.get("sort") == "shortest",
        )

    def is_empty(self) -> bool:
        return self == Filters()


def _hours(value: str) -> int | None:
    return int(value) if value.isdigit() and 0 <= int(value) <= 24 * 365 else None


def readable_mailbox_ids(user) -> list[int]:
    return list(mailboxes_for(user).values_list("pk", flat=True))


def _base(mailbox_ids: list[int], filters: Filters, *, listing: bool) -> QuerySet[Conversation]:
    ids = mailbox_ids
    if filters.mailbox is not None:
        ids = [pk for pk in ids if pk == filters.mailbox]
    # A conversation whose emails its mailbox no longer holds is off every list.
    conversations = Conversation.objects.filter(message_count__gt=0)
    if not listing or len(ids) > 1:
        # A list across mailboxes reads an index in its order (status or responsible,
        # then newest first) and stops at the page's end; a count reads the same index
        # (covering: it holds the mailbox too) and stops at COUNT_CAP. "mailbox_id + 0"
        # keeps SQLite's planner off the mailbox-first index of the mailbox page, which
        # would find the rows at once, then sort them or read every row to count.
        in_mailbox = ExpressionWrapper(F("mailbox_id") + 0, output_field=IntegerField())
        conversations = conversations.filter(AmongIds(in_mailbox, ids))
    else:
        conversations = conversations.filter(AmongIds(F("mailbox_id"), ids))
    if filters.responsible == NOBODY:
        conversations = conversations.filter(responsible__isnull=True)
    elif filters.responsible is not None:
        conversations = conversations.filter(responsible_id=filters.responsible)
    if filters.has_attachment:
        conversations = conversations.filter(has_attachment=True)
    return conversations


def _view_q(view: str, user, status: str | None) -> Q:
    awake = Q(snoozed_until__isnull=True)
    if view == "mine":
        return Q(status=status or Status.OPEN, responsible=user) & awake
    if view == "unassigned":
        return Q(status=status or Status.OPEN, responsible__isnull=True) & awake
    if view == "open":
        return Q(status=status or Status.OPEN) & awake
    if view == "waiting":
        return Q(status=status or Status.PENDING) & awake
    if view == "snoozed":
        snoozed = Q(snoozed_until__isnull=False)
        return snoozed & Q(status=status) if status else snoozed
    if view == "closed":
        return Q(status=status or Status.CLOSED)
    if view == "unanswered":
        return Q(status=status or Status.OPEN, waiting_since__isnull=False) & awake
    raise ValueError(f"unknown inbox view {view!r}")


def conversations(
    user, view: str, filters: Filters = Filters(), *, mailbox_ids: list[int] | None = None
) -> QuerySet[Conversation]:
    """The view's conversations in the mailboxes the user may read, in its order."""
    ids = readable_mailbox_ids(user) if mailbox_ids is None else mailbox_ids
    listed = _base(ids, filters, listing=True).filter(_view_q(view, user, filters.status))
    if view == "snoozed":
        return listed.order_by("snoozed_until", "-last_message_at")
    if view == "unanswered":
        return unanswered(listed, filters)
    return listed.order_by("-last_message_at")


def counts(user, *, mailbox_ids: list[int] | None = None) -> dict[str, int]:
    """How many conversations each working view holds, up to COUNT_CAP (the navigation
    shows "1000+"; an exact 34,512 tells no one more, and counting it would read 34,512
    index entries on every page), across all the mailboxes the user reads. Closed is not
    counted: it only grows. One statement, one scalar subquery per view, each an
    index-only scan of at most COUNT_CAP entries; Unanswered is counted at its default,
    UNANSWERED_HOURS."""
    ids = readable_mailbox_ids(user) if mailbox_ids is None else mailbox_ids
    base = _base(ids, Filters(), listing=False)
    parts, params = [], []
    for view in COUNTED:
        counted = base.filter(_view_q(view, user, None))
        if view == "unanswered":  # at the view's default threshold
            counted = unanswered(counted, Filters())
        # A column of the view's index, so that PostgreSQL need not visit the rows.
        try:
            sql, view_params = (
                counted.order_by().values("mailbox_id")[:COUNT_CAP].query.sql_with_params()
            )
        except EmptyResultSet:  # no mailbox to read: nothing to count
            parts.append("0")
            continue
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS counted_{view})")  # noqa: S608
        params.extend(view_params)
    # One statement for all of them: one round trip instead of six.
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        return dict(zip(COUNTED, cursor.fetchone(), strict=True))


# The views counted in the navigation, in one statement.
COUNTED = ("mine", "unassigned", "open", "waiting", "snoozed", "unanswered")


def unanswered(listed: QuerySet[Conversation], filters: Filters) -> QuerySet[Conversation]:
    """Of these, those whose customer has waited longer than the filter's hours, longest
    waiting first (status and waiting_since: one index, conv_status_waiting)."""
    hours = UNANSWERED_HOURS if filters.hours is None else filters.hours
    since = timezone.now() - timedelta(hours=hours)
    listed = listed.filter(waiting_since__lte=since)
    if filters.shortest_first:
        return listed.order_by("-waiting_since", "-pk")
    return listed.order_by("waiting_since", "pk")
