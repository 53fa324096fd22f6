"""Personal mailboxes and BCC trackers: an employee's own mail, for the CRM only.

A personal mailbox is an employee's own IMAP account, seen by its owner alone
(postroom/mailboxes/access.py). Its Inbox and Sent of the last `initial_days` days are
fetched, and capture puts mail with known contacts on their CRM items; what mail from
unknown people does is the owner's choice (ignore, the default, keeps it private). The
owner may disconnect it: the mailbox goes, what its mail made in the CRM stays.

A BCC tracker is a user's `track-<signed token>@<POSTROOM_INGRESS_DOMAIN>` address
(postroom/accounts/tracker.py): the ingress stores what arrives there in a hidden
personal mailbox of the user, with no IMAP, and capture binds it, as mail the user
sent, to the items of its recipients. Logging in to an IMAP server is sync's job: the
connect flow (postroom/web/personal_views.py) checks the login, then saves here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from postroom.accounts import tracker as tokens
from postroom.lib.addresses import normalize_address

from . import limits
from .access import mailboxes_for
from .actions import (
    MAX_INITIAL_DAYS,
    ConnectionSettings,
    MailboxError,
    MailboxLimitReached,
    do_add_mailbox,
)
from .models import CrmRuleKind, Folder, Mailbox, MailboxGrant, TrackerAddress

logger = logging.getLogger(__name__)

# What mail from an unknown person does: the owner's words for the mailbox's CRM rule.
# Ignore keeps it out of the CRM, seen by the owner alone. (Mail through a tracker is
# outgoing: capture binds it to its recipients' items and never creates any.)
UNKNOWN_PEOPLE_RULES: dict[str, str] = {
    "ignore": CrmRuleKind.NONE,
    "lead": CrmRuleKind.LEAD,
    "contact": CrmRuleKind.CONTACT_DEAL,
}
UNKNOWN_PEOPLE_CHOICES = [
    ("ignore", "Ignore: keep it private, only mail with known contacts goes to the CRM"),
    ("lead", "Create a lead"),
    ("contact", "Create a contact and a deal"),
]
TRACKER_NAME = "BCC tracker"


@dataclass(frozen=True)
class PersonalSettings:
    """The owner's choices for a personal mailbox."""

    initial_days: int = 30
    unknown_people: str = "ignore"

    def crm_rule(self) -> str:
        try:
            return UNKNOWN_PEOPLE_RULES[self.unknown_people]
        except KeyError:
            raise MailboxError(
                f"unknown choice {self.unknown_people!r} for mail with unknown people: "
                f"use {', '.join(UNKNOWN_PEOPLE_RULES)}"
            ) from None

    def check(self) -> None:
        self.crm_rule()
        if not 1 <= self.initial_days <= MAX_INITIAL_DAYS:
            raise MailboxError(f"days to scan must be between 1 and {MAX_INITIAL_DAYS}")

    def check_window(self, before: int | None = None) -> None:
        """The administrator's maximum, for a new window or a wider one than `before`."""
        if (before is None or self.initial_days > before) and (
            why := limits.initial_days_refusal(self.initial_days)
        ):
            raise MailboxLimitReached(why)


def unknown_people_choice(mailbox: Mailbox) -> str:
    """The owner's word for the mailbox's CRM rule ("ignore" for anything else)."""
    for word, rule in UNKNOWN_PEOPLE_RULES.items():
        if mailbox.crm_rule == rule:
            return word
    return "ignore"


# --------------------------------------------------------------- personal mailboxes


def personal_mailboxes(user) -> QuerySet[Mailbox]:
    """The user's own connected mailboxes, without their BCC tracker's."""
    if not user.is_authenticated:
        return Mailbox.objects.none()
    return Mailbox.objects.filter(
        kind=Mailbox.Kind.PERSONAL, owner=user, tracker__isnull=True
    ).order_by("name")


@transaction.atomic
def do_add_personal_mailbox(owner, conn: ConnectionSettings, choices: PersonalSettings) -> Mailbox:
    """Save the owner's mailbox, kind personal; the caller has tested the login.

    New CRM items from it (when the owner chose to create them) are the owner's.
    """
    choices.check()
    choices.check_window()
    if not conn.imap_host:
        raise MailboxError("a personal mailbox needs an IMAP server")
    mailbox = do_add_mailbox(
        conn,
        kind=Mailbox.Kind.PERSONAL,
        owner=owner,
        crm_rule=choices.crm_rule(),
        initial_days=choices.initial_days,
    )
    mailbox.initial_days = choices.initial_days
    mailbox.crm_responsible = owner
    mailbox.save(update_fields=["initial_days", "crm_responsible"])
    return mailbox


@transaction.atomic
def do_update_personal_settings(mailbox: Mailbox, choices: PersonalSettings) -> Mailbox:
    """The owner changes their choices; days to scan apply to folders not yet fetched."""
    choices.check()
    choices.check_window(mailbox.initial_days)
    mailbox.crm_rule = choices.crm_rule()
    mailbox.crm_smart_type = ""
    mailbox.initial_days = choices.initial_days
    mailbox.save(update_fields=["crm_rule", "crm_smart_type", "initial_days"])
    return mailbox


# Disconnecting deletes the Mailbox row instead of marking it disconnected, because
# that is what keeps the CRM whole and the owner's mail gone:
# - What cascades from a Mailbox is its view of the mail: folders (and the workers'
#   leases on them), copies, conversations, grants, drafts, templates, its signature
#   and outbox. Nothing of the CRM: a Message has no mailbox (it is one per email,
#   however many mailboxes saw it), an Activity hangs off the Message, a TimelineEntry
#   off the Activity. So every email already on a CRM timeline stays there with its
#   subject and direction, a Message other mailboxes hold keeps their copies, and CRM
#   items made from this mailbox's mail only lose their source_mailbox (SET NULL).
#   Once no mailbox holds an email, nobody reads its text on a timeline any more (the
#   rule of crm.access.readable_message_ids): before, its owner alone could.
# - A "disconnected" flag would have to be honoured by every query that lists
#   mailboxes, copies, search results or folders to lease, would keep the mailbox
#   readable through anything that forgot it, and would keep the address (unique)
#   from being connected again.
DISCONNECT_ATTEMPTS = 3


@dataclass(frozen=True)
class Disconnected:
    address: str
    conversations: int
    # The emails it held: those no other mailbox holds are then purged (pipeline).
    message_ids: tuple[int, ...] = ()


def do_disconnect_personal_mailbox(mailbox: Mailbox, *, acting_user) -> Disconnected:
    """The owner disconnects their mailbox: it stops syncing at once and leaves every
    list; its copies and conversations go, the CRM keeps what its mail made. The emails
    it held are returned for pipeline.mailbox_disconnected to purge.

    Not for a BCC tracker (it is replaced by regenerating its address) or a shared
    mailbox. Call it outside a transaction: the stop is committed before the delete.
    """
    if mailbox.kind != Mailbox.Kind.PERSONAL or mailbox.owner_id != acting_user.pk:
        raise MailboxError(f"{mailbox.address} is not your personal mailbox")
    if is_tracker(mailbox.pk):
        raise MailboxError("the BCC tracker cannot be disconnected: regenerate its address")
    address = mailbox.address
    # First stop: a worker's next lease round lets unsynced folders go even if the delete
    # below has to wait for a sync batch in flight.
    Folder.objects.filter(mailbox=mailbox).update(is_synced=False)
    attempt = 1
    while True:
        try:
            with transaction.atomic():
                row = Mailbox.objects.select_for_update().filter(pk=mailbox.pk).first()
                if row is None:  # disconnected by a concurrent request
                    return Disconnected(address=address, conversations=0)
                conversations = row.conversations.count()
                held = tuple(row.copies.values_list("message_id", flat=True).distinct())
                # Cascades to folders and their leases: a worker holding one drops it.
                row.delete()
            break
        except IntegrityError:
            # A sync batch committed copies between collecting the rows and deleting
            # them (the foreign keys are checked at commit): collect again.
            if attempt == DISCONNECT_ATTEMPTS:
                raise
            attempt += 1
    logger.info("personal mailbox %s disconnected by its owner %s", address, acting_user.pk)
    return Disconnected(address=address, conversations=conversations, message_ids=held)


# --------------------------------------------------------------------- BCC trackers


def tracker_mailbox(user) -> Mailbox | None:
    """The user's BCC tracker's mailbox; None until their profile first made it."""
    if not user.is_authenticated:
        return None
    return Mailbox.objects.filter(
        kind=Mailbox.Kind.PERSONAL, owner=user, tracker__user=user
    ).first()


def listed_mailboxes(user) -> QuerySet[Mailbox]:
    """The mailboxes the Mailboxes page lists: those the user may read, without their
    BCC tracker's (no server to configure; the page shows it apart)."""
    return mailboxes_for(user).filter(tracker__isnull=True)


def tracker_address_of(tracker: TrackerAddress) -> str:
    return tokens.tracker_address(tracker.user_id, tracker.key)


@transaction.atomic
def tracker_for(user) -> TrackerAddress:
    """The user's tracker, made on first use, its mailbox kept at the current address
    (the ingress domain may have changed since)."""
    tracker = TrackerAddress.objects.select_related("mailbox").filter(user=user).first()
    if tracker is None:
        key = tokens.new_key()
        mailbox = do_add_mailbox(
            ConnectionSettings(address=tokens.tracker_address(user.pk, key), name=TRACKER_NAME),
            kind=Mailbox.Kind.PERSONAL,
            owner=user,
            crm_rule=CrmRuleKind.NONE,
        )
        mailbox.crm_responsible = user
        mailbox.save(update_fields=["crm_responsible"])
        return TrackerAddress.objects.create(user=user, mailbox=mailbox, key=key)
    _follow_address(tracker)
    return tracker


@transaction.atomic
def do_regenerate_tracker(user) -> TrackerAddress:
    """A new tracker address for the user; the old one is refused from now on. The
    mail already tracked stays where it is."""
    tracker = tracker_for(user)
    tracker.key = tokens.new_key()
    tracker.regenerated_at = timezone.now()
    tracker.save(update_fields=["key", "regenerated_at"])
    _follow_address(tracker)
    return tracker


def _follow_address(tracker: TrackerAddress) -> None:
    address = tracker_address_of(tracker)
    if tracker.mailbox.address != address:
        tracker.mailbox.address = address
        tracker.mailbox.save(update_fields=["address"])


@dataclass(frozen=True)
class TrackerLookup:
    """Where mail for an address in the tracker's form goes: a mailbox, or a refusal."""

    mailbox_id: int | None = None
    refusal: str = ""


def find_tracker(address: str) -> TrackerLookup | None:
    """The tracker mailbox for `address`; None when it is not a tracker address at all
    (the ingress then looks for a mailbox), a refusal when it is forged, regenerated
    since, or its user is gone or deactivated."""
    try:
        claim = tokens.read_tracker_address(address)
    except tokens.ForgedTracker:
        return TrackerLookup(refusal="not a valid tracker address (its signature is wrong)")
    if claim is None:
        return None
    tracker = (
        TrackerAddress.objects.filter(user_id=claim.user_id)
        .values("mailbox_id", "key", "user__is_active")
        .first()
    )
    if tracker is None or tracker["key"] != claim.key:
        return TrackerLookup(refusal="this tracker address was replaced by a new one")
    if not tracker["user__is_active"]:
        return TrackerLookup(refusal="this tracker address belongs to a deactivated user")
    return TrackerLookup(mailbox_id=tracker["mailbox_id"])


def is_tracker(mailbox_id: int) -> bool:
    return TrackerAddress.objects.filter(mailbox_id=mailbox_id).exists()


def tracker_senders(mailbox_id: int) -> set[str]:
    """Addresses mail through this tracker may come from: its user's own address, their
    personal mailboxes and the shared mailboxes they may reply from. Anything else is
    not mail the user sent, and would be put on timelines under a stranger's name."""
    tracker = TrackerAddress.objects.select_related("user").get(mailbox_id=mailbox_id)
    user = tracker.user
    own = mailboxes_for(user, MailboxGrant.Level.REPLY).values_list("address", flat=True)
    found = {normalize_address(user.email), *(normalize_address(a) for a in own)}
    found.discard(normalize_address(tracker.mailbox.address))
    found.discard("")
    return found
