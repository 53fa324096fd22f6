"""The limits an administrator sets (defaults unlimited): connected personal mailboxes
per user, shared mailboxes in the organisation, the initial fetch window's maximum, and
the monthly quota of outgoing mail (its first value is POSTROOM_MONTHLY_QUOTA; outbound
enforces it).

Every check is here and is called by the actions that save (do_add_mailbox, the
settings' and the personal mailbox's actions, do_send_email), so the web, the API and
the commands meet the same limit. A refusal names the limit and who can change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db import transaction

from .models import Mailbox, OrganisationLimits

# The administrator is who changes a limit; every refusal says so in these words.
WHO_CHANGES = "your administrator can change it on the Limits page"
# The most any limit may be set to (beyond it, "unlimited").
MAX_MAILBOXES = 100_000
MAX_QUOTA = 100_000_000


def current() -> OrganisationLimits:
    """The organisation's limits, the row made on first read (the quota from the env)."""
    row = OrganisationLimits.objects.filter(pk=1).first()
    if row is None:
        quota = settings.POSTROOM.get("MONTHLY_QUOTA") or None
        row, _ = OrganisationLimits.objects.get_or_create(
            pk=1, defaults={"monthly_outgoing": quota}
        )
    return row


@dataclass(frozen=True)
class Limits:
    """What an administrator chose; None is unlimited."""

    personal_per_user: int | None = None
    shared_mailboxes: int | None = None
    initial_days_max: int | None = None
    monthly_outgoing: int | None = None


class LimitError(ValueError):
    """A limit that cannot be saved; the message says why."""


def _check(name: str, value: int | None, low: int, high: int) -> None:
    if value is not None and not low <= value <= high:
        raise LimitError(f"{name} must be between {low} and {high:,}, or unlimited")


@transaction.atomic
def do_set_limits(limits: Limits, *, acting_user) -> OrganisationLimits:
    """Save the limits. Lowering one below what exists removes nothing: it stops the
    next mailbox, the next wider window or the next email."""
    from .actions import MAX_INITIAL_DAYS

    _check("Personal mailboxes per person", limits.personal_per_user, 0, MAX_MAILBOXES)
    _check("Shared mailboxes", limits.shared_mailboxes, 0, MAX_MAILBOXES)
    _check("The initial fetch window", limits.initial_days_max, 1, MAX_INITIAL_DAYS)
    _check("The monthly quota", limits.monthly_outgoing, 0, MAX_QUOTA)
    current()
    OrganisationLimits.objects.filter(pk=1).update(
        personal_per_user=limits.personal_per_user,
        shared_mailboxes=limits.shared_mailboxes,
        initial_days_max=limits.initial_days_max,
        monthly_outgoing=limits.monthly_outgoing,
        updated_by=acting_user if acting_user is not None and acting_user.pk else None,
    )
    return current()


# ----------------------------------------------------------------------- mailboxes


def personal_count(owner) -> int:
    """The owner's connected personal mailboxes (their BCC tracker is not one)."""
    return Mailbox.objects.filter(
        kind=Mailbox.Kind.PERSONAL, owner=owner, tracker__isnull=True
    ).count()


def shared_count() -> int:
    return Mailbox.objects.filter(kind=Mailbox.Kind.SHARED).count()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}es" if word.endswith("x") else f"{n} {word}s"


def personal_refusal(owner) -> str:
    """Why `owner` may connect no other personal mailbox; "" when they may."""
    limit = current().personal_per_user
    if limit is None:
        return ""
    have = personal_count(owner)
    if have < limit:
        return ""
    return (
        f"You have {_plural(have, 'personal mailbox')} connected, the most allowed "
        f"per person ({limit}); {WHO_CHANGES}."
    )


def shared_refusal() -> str:
    """Why no other shared mailbox may be connected; "" when one may."""
    limit = current().shared_mailboxes
    if limit is None:
        return ""
    have = shared_count()
    if have < limit:
        return ""
    return (
        f"The organisation has {_plural(have, 'shared mailbox')}, the most allowed "
        f"({limit}); {WHO_CHANGES}."
    )


def initial_days_max() -> int | None:
    return current().initial_days_max


def initial_days_refusal(days: int) -> str:
    """Why an initial fetch window of `days` is not allowed; "" when it is."""
    limit = initial_days_max()
    if limit is None or days <= limit:
        return ""
    return (
        f"The initial fetch window is at most {_plural(limit, 'day')} back "
        f"(you asked for {days}); {WHO_CHANGES}."
    )


def new_mailbox_refusal(kind: str, owner=None, initial_days: int | None = None) -> str:
    """Why this mailbox may not be connected; "" when it may. Personal mailboxes with an
    IMAP server count (a BCC tracker has none and does not)."""
    if kind == Mailbox.Kind.SHARED:
        why = shared_refusal()
    else:
        why = personal_refusal(owner) if owner is not None else ""
    if not why and initial_days is not None:
        why = initial_days_refusal(initial_days)
    return why
