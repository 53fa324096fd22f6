"""The organisation's monthly quota of outgoing mail, as the people who send meet it.

The quota is one of the administrator's limits (postroom.mailboxes.limits; None is
unlimited; its first value is POSTROOM_MONTHLY_QUOTA). Two places enforce it:
`do_send_email` refuses a new email once the month's sent and waiting emails reach it,
saying so on the compose form and in the API; delivery (postroom.outbound.delivery)
holds an email already queued, an auto-reply or a retry, until the next month.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.utils import timezone

from postroom.mailboxes import limits

from .models import MonthlyUsage, OutboxMessage


def month_start(when: datetime) -> datetime:
    local = timezone.localtime(when)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(when: datetime) -> datetime:
    start = month_start(when)
    following = (start + timedelta(days=32)).replace(day=1)
    # Re-localised: the UTC offset at the start of next month may differ (DST).
    return timezone.make_aware(following.replace(tzinfo=None))


def monthly_quota() -> int | None:
    return limits.current().monthly_outgoing


@dataclass(frozen=True)
class Usage:
    month: date
    sent: int  # sent this calendar month
    waiting: int  # queued or being sent: they count once sent
    quota: int | None
    renews: datetime  # when the next month starts

    @property
    def used(self) -> int:
        return self.sent + self.waiting

    @property
    def reached(self) -> bool:
        return self.quota is not None and self.used >= self.quota

    @property
    def left(self) -> int | None:
        return None if self.quota is None else max(0, self.quota - self.used)


def usage(now: datetime | None = None) -> Usage:
    now = now or timezone.now()
    month = month_start(now).date()
    sent = MonthlyUsage.objects.filter(month=month).values_list("sent", flat=True).first()
    waiting = OutboxMessage.objects.filter(
        status__in=(OutboxMessage.Status.QUEUED, OutboxMessage.Status.SENDING)
    ).count()
    return Usage(month, sent or 0, waiting, monthly_quota(), next_month(now))


def refusal(now: datetime | None = None) -> str:
    """Why no new email may be sent this month; "" when one may."""
    found = usage(now)
    if not found.reached:
        return ""
    waiting = f" and {found.waiting} waiting to go" if found.waiting else ""
    renews = timezone.localtime(found.renews)
    return (
        f"The organisation's monthly quota of {found.quota:,} emails is used up "
        f"({found.sent:,} sent this month{waiting}); it starts again on "
        f"{renews:%-d %B}. {limits.WHO_CHANGES[:1].upper()}{limits.WHO_CHANGES[1:]}."
    )
