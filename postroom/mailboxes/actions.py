"""Writes to mailboxes: connecting one, its settings and password, who may use it, its
folders' choices, requests for a sync and the recorded sync state."""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from postroom.accounts.actions import do_notify

from . import limits
from .access import admins_of
from .models import CrmRuleKind, Folder, Mailbox, MailboxGrant, OrganisationLimits, Security

logger = logging.getLogger(__name__)


class MailboxError(Exception):
    """A mailbox cannot be saved as asked; the message says why."""


class MailboxLimitReached(MailboxError):
    """An administrator's limit (postroom.mailboxes.limits) stops this; the message
    names the limit and who can change it."""


def check_limits(kind: str, owner=None, initial_days: int | None = None) -> None:
    """Raise MailboxLimitReached when the organisation's limits refuse this mailbox."""
    if why := limits.new_mailbox_refusal(kind, owner, initial_days):
        raise MailboxLimitReached(why)


@dataclass(frozen=True)
class ConnectionSettings:
    address: str
    name: str
    imap_host: str = ""  # empty: fed by the ingress only
    imap_port: int | None = None
    imap_security: str = ""
    username: str = ""
    password: str = ""
    smtp_host: str = ""
    smtp_port: int | None = None
    smtp_security: str = ""
    allow_self_signed: bool = False
    # The SMTP login where it differs from the IMAP one (empty: the IMAP one).
    smtp_username: str = ""
    smtp_password: str = ""

    def __repr__(self) -> str:  # never show the password in a traceback or a log
        return f"ConnectionSettings(address={self.address!r}, imap_host={self.imap_host!r})"


def imap_server_refusal(host: str, port: int | None) -> str:
    """Why the administrator's lists (POSTROOM_IMAP_ALLOWED_HOSTS and _PORTS) do not let
    a mailbox be connected to host:port from the web; "" when they do (empty: any).

    A host entry is a name, or `*.acme.test` for any host under acme.test."""
    config = settings.POSTROOM
    hosts = [h.lower().rstrip(".") for h in config.get("IMAP_ALLOWED_HOSTS", [])]
    ports = config.get("IMAP_ALLOWED_PORTS", [])
    name = host.strip().lower().rstrip(".")
    if hosts and not any(
        name == h or (h.startswith("*.") and name.endswith(h[1:]) and name != h[2:]) for h in hosts
    ):
        return "this installation connects only to the IMAP servers its administrator allows"
    if ports and port not in ports:
        allowed = ", ".join(str(p) for p in ports)
        return f"this installation connects to IMAP servers only on these ports: {allowed}"
    return ""


# Bounds of the settings a mailbox's managers choose (the form and the service agree).
MAX_INITIAL_DAYS = 3650
MIN_POLL_INTERVAL = 10  # seconds: a server without IDLE is not asked more often
MAX_POLL_INTERVAL = 24 * 3600


def parse_crm_rule(value: str) -> tuple[str, str]:
    """'lead' | 'contact-deal' | 'none' | 'smart:TYPE' -> (rule, smart type)."""
    rule, _, smart_type = value.partition(":")
    if rule not in CrmRuleKind.values:
        raise MailboxError(
            f"unknown CRM rule {value!r}: use lead, contact-deal, smart:TYPE or none"
        )
    if (rule == CrmRuleKind.SMART) != bool(smart_type.strip()):
        raise MailboxError("the smart rule needs a type, as in smart:Support Request")
    return rule, smart_type.strip()


@transaction.atomic
def do_add_mailbox(
    conn: ConnectionSettings,
    *,
    kind: str = Mailbox.Kind.SHARED,
    owner=None,
    crm_rule: str = "lead",
    poll_interval: int | None = None,
    initial_days: int = 30,
) -> Mailbox:
    """Save a connected mailbox with its Inbox folder; the caller has tested the login.

    Without an IMAP host the mailbox is fed by the SMTP/LMTP ingress alone.
    """
    if conn.imap_host and conn.imap_security not in Security.values:
        raise MailboxError(f"unknown security {conn.imap_security!r}")
    if conn.allow_self_signed and conn.imap_security == Security.NONE:
        # Allowing a certificate only makes sense with TLS: refuse rather than let it
        # look as if the plain-text connection were protected somehow.
        raise MailboxError("allowing self-signed certificates needs TLS (ssl or starttls)")
    if Mailbox.objects.filter(address__iexact=conn.address).exists():
        raise MailboxError(f"mailbox {conn.address} already exists")
    if kind == Mailbox.Kind.PERSONAL and owner is None:
        raise MailboxError("a personal mailbox needs an owner (--owner)")
    if not 1 <= initial_days <= MAX_INITIAL_DAYS:
        raise MailboxError(f"days back must be between 1 and {MAX_INITIAL_DAYS}")
    # A BCC tracker (personal, no IMAP server) is not a connected mailbox: not counted.
    if kind == Mailbox.Kind.SHARED or conn.imap_host:
        # Locked, so two connections finishing at once cannot both take the last place.
        limits.current()
        OrganisationLimits.objects.select_for_update().filter(pk=1).first()
        check_limits(kind, owner, initial_days)
    rule, smart_type = parse_crm_rule(crm_rule)
    mailbox = Mailbox(
        address=conn.address.strip().lower(),
        name=conn.name,
        kind=kind,
        owner=owner,
        imap_host=conn.imap_host,
        imap_port=conn.imap_port,
        imap_security=conn.imap_security,
        allow_self_signed=conn.allow_self_signed,
        username=conn.username,
        smtp_host=conn.smtp_host,
        smtp_port=conn.smtp_port,
        smtp_security=conn.smtp_security,
        crm_rule=rule,
        crm_smart_type=smart_type,
        poll_interval=poll_interval,
        initial_days=initial_days,
    )
    if conn.imap_host:
        mailbox.set_password(conn.password)
    mailbox.smtp_username = conn.smtp_username
    mailbox.set_smtp_password(conn.smtp_password)
    mailbox.save()
    if conn.imap_host:
        Folder.objects.create(mailbox=mailbox, name="INBOX", role=Folder.Role.INBOX)
    if owner is not None and kind == Mailbox.Kind.SHARED:
        MailboxGrant.objects.create(mailbox=mailbox, user=owner, level=MailboxGrant.Level.MANAGE)
    return mailbox


@dataclass(frozen=True)
class SyncSettings:
    """What a mailbox's managers may change about how it is read (not where from)."""

    name: str
    initial_days: int
    poll_interval: int | None  # None: POSTROOM_POLL_INTERVAL
    allow_self_signed: bool


@transaction.atomic
def do_update_mailbox_settings(mailbox: Mailbox, choices: SyncSettings, *, acting_user) -> Mailbox:
    """Save a mailbox's name and sync settings; MailboxError (nothing saved) says why not.

    More days back: each synced folder fetches the mail of the added days, at once
    (sync.service widens its window). Fewer: mail fetched already stays.
    """
    name = " ".join(choices.name.split())
    if not name:
        raise MailboxError("the name is empty")
    if not 1 <= choices.initial_days <= MAX_INITIAL_DAYS:
        raise MailboxError(f"days back must be between 1 and {MAX_INITIAL_DAYS}")
    # Only a wider window than the mailbox has is refused: lowering the limit later
    # does not stop a mailbox's other settings from being saved.
    if choices.initial_days > mailbox.initial_days and (
        why := limits.initial_days_refusal(choices.initial_days)
    ):
        raise MailboxLimitReached(why)
    interval = choices.poll_interval
    if interval is not None and not MIN_POLL_INTERVAL <= interval <= MAX_POLL_INTERVAL:
        raise MailboxError(
            f"the poll interval must be between {MIN_POLL_INTERVAL} and {MAX_POLL_INTERVAL} s"
        )
    if choices.allow_self_signed and mailbox.imap_security not in (Security.SSL, Security.STARTTLS):
        raise MailboxError("allowing self-signed certificates needs TLS (ssl or starttls)")
    mailbox = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    changed = {
        field: value
        for field, value in (
            ("name", name),
            ("initial_days", choices.initial_days),
            ("poll_interval", interval),
            ("allow_self_signed", choices.allow_self_signed),
        )
        if getattr(mailbox, field) != value
    }
    wider = choices.initial_days > mailbox.initial_days
    for field, value in changed.items():
        setattr(mailbox, field, value)
    if changed:
        mailbox.save(update_fields=list(changed))
        who = f"user {acting_user.pk}" if acting_user else "the command line"
        logger.info("mailbox %s: %s changed by %s", mailbox.address, ", ".join(changed), who)
    if wider:  # the mail of the added days is fetched now, not at the next poll
        do_request_sync(mailbox)
    return mailbox


def do_request_sync(mailbox: Mailbox) -> int:
    """Ask for a sync of the mailbox's synced folders now: the worker holding each one
    sees the request within a lease round (postroom/sync/worker.py)."""
    return mailbox.folders.filter(is_synced=True).update(sync_requested_at=timezone.now())


def do_grant_mailbox(mailbox: Mailbox, user, level: int = MailboxGrant.Level.READ) -> MailboxGrant:
    grant, _ = MailboxGrant.objects.update_or_create(
        mailbox=mailbox, user=user, defaults={"level": level}
    )
    return grant


@transaction.atomic
def do_set_grant(mailbox: Mailbox, *, level: int, acting_user, user=None, group=None):
    """Give a user or a group (a department's) a level of access to a shared mailbox, or
    change the level they have; MailboxError when that cannot be."""
    if mailbox.kind != Mailbox.Kind.SHARED:
        raise MailboxError("a personal mailbox is its owner's alone: it has no grants")
    if (user is None) == (group is None):
        raise MailboxError("choose a person or a department, not both")
    if level not in MailboxGrant.Level.values:
        raise MailboxError(f"unknown access level {level!r}")
    if user is not None and not user.is_active:
        raise MailboxError(f"{user.get_username()} is deactivated")
    who = {"user": user} if user is not None else {"group": group}
    existing = MailboxGrant.objects.filter(mailbox=mailbox, **who).first()
    if existing is not None and existing.level > level:
        _check_not_locking_out(existing, acting_user)
    grant, _ = MailboxGrant.objects.update_or_create(
        mailbox=mailbox, **who, defaults={"level": level}
    )
    logger.info(
        "mailbox %s: %s access for %s, set by user %s",
        mailbox.address,
        grant.get_level_display(),
        user or group,
        getattr(acting_user, "pk", None),
    )
    return grant


@transaction.atomic
def do_revoke_grant(grant: MailboxGrant, *, acting_user) -> None:
    _check_not_locking_out(grant, acting_user)
    grant.delete()
    logger.info(
        "mailbox %s: access of %s revoked by user %s",
        grant.mailbox.address,
        grant.user or grant.group,
        getattr(acting_user, "pk", None),
    )


def _check_not_locking_out(grant: MailboxGrant, acting_user) -> None:
    """A manager may not take away the grant their own right to manage rests on: the
    page would lock them out mid-click. Administrators manage every mailbox anyway."""
    if acting_user is None or acting_user.is_superuser or grant.level < MailboxGrant.Level.MANAGE:
        return
    others = MailboxGrant.objects.filter(
        Q(user=acting_user) | Q(group__in=acting_user.groups.all()),
        mailbox=grant.mailbox,
        level=MailboxGrant.Level.MANAGE,
    ).exclude(pk=grant.pk)
    mine = grant.user_id == acting_user.pk or (
        grant.group_id is not None and acting_user.groups.filter(pk=grant.group_id).exists()
    )
    if mine and not others.exists():
        raise MailboxError(
            "that would take away your own right to manage this mailbox; ask another "
            "manager or an administrator"
        )


@transaction.atomic
def do_change_password(mailbox: Mailbox, password: str, *, acting_user) -> Mailbox:
    """Save a new IMAP password (encrypted, as when connecting); the caller has logged in
    with it first (sync.service.verify_password), as `do_add_mailbox`'s callers do.

    A mailbox whose login was refused goes back to normal at once: its status no longer
    says "Authentication failed", and the worker, which looks at that status while it
    backs off from the refusal (postroom/sync/worker.py), logs in again within seconds.
    """
    if not mailbox.has_imap:
        raise MailboxError(f"{mailbox.address} has no IMAP server, so no password")
    if not password:
        raise MailboxError("the password is empty")
    mailbox = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
    mailbox.set_password(password)
    fields = ["password_encrypted"]
    if mailbox.status == Mailbox.Status.AUTH_FAILED:
        mailbox.status = Mailbox.Status.OK if mailbox.last_synced_at else Mailbox.Status.NEW
        mailbox.status_message = ""
        fields += ["status", "status_message"]
    mailbox.save(update_fields=fields)
    # Who and which mailbox, never the password.
    who = f"user {acting_user.pk}" if acting_user else "the command line"
    logger.info("password of mailbox %s changed by %s", mailbox.address, who)
    return mailbox


def do_record_sync_success(mailbox: Mailbox) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(
        status=Mailbox.Status.OK, status_message="", last_synced_at=timezone.now()
    )


@transaction.atomic
def do_record_sync_failure(mailbox: Mailbox, status: str, message: str) -> None:
    """Record why sync failed; a newly refused login is told to the mailbox's admins."""
    message = message[:2000]
    rows = Mailbox.objects.filter(pk=mailbox.pk)
    # Only the change of state notifies: the retries that follow stay quiet.
    changed = rows.exclude(status=status).update(status=status, status_message=message)
    if not changed:
        rows.update(status_message=message)
    if changed and status == Mailbox.Status.AUTH_FAILED:
        do_notify(
            admins_of(mailbox),
            f"{mailbox.address}: {message}. Postroom retries less and less often; "
            "update the mailbox's password to fix it.",
            url=reverse("web:mailbox_password", args=[mailbox.pk]),
        )


# Folders Postroom keeps for mail that reached it without IMAP; never on the server.
LOCAL_FOLDERS = ("(ingress)", "(outbox)")

# Folders synced when first discovered; the rest wait until an administrator picks them.
SYNCED_BY_DEFAULT = {Folder.Role.INBOX, Folder.Role.SENT}


@transaction.atomic
def do_update_folders(mailbox: Mailbox, remote: list[tuple[str, str]]) -> list[Folder]:
    """Record the server's folders (name, role); choices made earlier are kept.

    A folder that disappeared from the server stops syncing; its mail stays.
    """
    names = {name for name, _ in remote}
    for name, role in remote:
        folder, created = Folder.objects.get_or_create(
            mailbox=mailbox,
            name=name,
            defaults={"role": role, "is_synced": role in SYNCED_BY_DEFAULT},
        )
        if (
            not created
            and not folder.role_is_chosen
            and folder.role == Folder.Role.OTHER
            and role != Folder.Role.OTHER
        ):
            folder.role = role
            folder.save(update_fields=["role"])
    mailbox.folders.exclude(name__in=names).exclude(name__in=LOCAL_FOLDERS).update(is_synced=False)
    return list(mailbox.folders.all())


@transaction.atomic
def do_choose_folders(
    mailbox: Mailbox,
    *,
    sync: Sequence[str] = (),
    stop: Sequence[str] = (),
    roles: Mapping[str, str] | None = None,
) -> None:
    """A manager's pick of the folders to sync and, where the server's flags are wrong
    or missing, of their roles ({folder name: role}); MailboxError, with nothing
    changed, when a name or a role is unknown or two folders would be Trash."""
    roles = dict(roles or {})
    unknown = set(sync) | set(stop) | set(roles)
    unknown -= set(mailbox.folders.filter(name__in=unknown).values_list("name", flat=True))
    if unknown:
        raise MailboxError(f"no such folder: {', '.join(sorted(unknown))}")
    if bad := sorted(set(roles.values()) - set(Folder.Role.values)):
        raise MailboxError(f"unknown folder role: {', '.join(bad)}")
    mailbox.folders.filter(name__in=sync).update(is_synced=True)
    mailbox.folders.filter(name__in=stop).update(is_synced=False)
    for folder in mailbox.folders.filter(name__in=roles).select_for_update():
        if folder.role != roles[folder.name]:
            folder.role, folder.role_is_chosen = roles[folder.name], True
            folder.save(update_fields=["role", "role_is_chosen"])
    # Deleting moves a message to the Trash folder: there must be no doubt which.
    trash = list(mailbox.folders.filter(role=Folder.Role.TRASH).values_list("name", flat=True))
    if len(trash) > 1:
        raise MailboxError(f"only one folder can be Trash, not {' and '.join(sorted(trash))}")
