"""The organisation's CRM settings: its internal domains, whether hand-made contacts join
the company of their mail domain, and the precedence between mailboxes' CRM rules.

Capture, the inbox workflow, reports and tracking ask `internal_domains()` for every
email they look at, so the settings are cached in each process: the cache is dropped
at once in the process that saves them (or changes a mailbox or a user, which the
default depends on), and other processes (the job runner, other web workers) read them
again within CACHE_SECONDS.
"""

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from postroom.mailboxes.models import Mailbox

from .access import check_admin
from .models import CrmSettings, domain_of

logger = logging.getLogger(__name__)

# How long another process may go on with settings an administrator just changed.
CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class Settings:
    """The settings as they apply now."""

    internal_domains: frozenset[str]
    join_company_by_domain: bool
    saved: bool  # False: no administrator saved them yet, these are the defaults


_lock = threading.Lock()
_cached: tuple[float, Settings] | None = None


def current() -> Settings:
    """The settings in force, from the process's cache when fresh."""
    global _cached
    cached = _cached
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    value = _read()
    with _lock:
        _cached = (time.monotonic(), value)
    return value


def internal_domains() -> frozenset[str]:
    """The organisation's own mail domains: mail from them is a colleague's, never a lead
    (the one place every part of Postroom reads them from)."""
    return current().internal_domains


def is_internal_address(address: str) -> bool:
    return domain_of(address) in internal_domains()


def invalidate(**_kwargs) -> None:
    """Forget the cached settings (a signal receiver too: any arguments)."""
    global _cached
    with _lock:
        _cached = None


def _read() -> Settings:
    row = CrmSettings.objects.filter(pk=1).first()
    if row is not None:
        return Settings(
            internal_domains=frozenset(row.internal_domains),
            join_company_by_domain=row.join_company_by_domain,
            saved=True,
        )
    return Settings(
        internal_domains=frozenset(default_internal_domains()),
        join_company_by_domain=True,
        saved=False,
    )


def configured_domains() -> list[str]:
    """POSTROOM_INTERNAL_DOMAINS: the initial value of the internal domains only."""
    return clean_domains(settings.POSTROOM.get("INTERNAL_DOMAINS", ()), strict=False)


def mailbox_domains() -> list[str]:
    """The domains of the shared mailboxes: the organisation's own (not free mail)."""
    from .senders import is_free_mail_domain

    addresses = Mailbox.objects.filter(kind=Mailbox.Kind.SHARED).values_list("address", flat=True)
    found = {domain_of(a) for a in addresses if "@" in a}
    return sorted(d for d in found if d and not is_free_mail_domain(d))


def user_domains() -> list[str]:
    """The domains of the active users' addresses, free mail left out."""
    from .senders import is_free_mail_domain

    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    found = {domain_of(a) for a in users.values_list("email", flat=True) if "@" in a}
    return sorted(d for d in found if d and not is_free_mail_domain(d))


def default_internal_domains() -> list[str]:
    """What the internal domains are until an administrator saves them, and what the
    settings page is pre-filled with: the environment variable, the shared mailboxes'
    domains and the users' domains."""
    return sorted({*configured_domains(), *mailbox_domains(), *user_domains()})


def clean_domains(values: Iterable[str], *, strict: bool = True) -> list[str]:
    """Lower-case domains without "@", sorted, each once. A value that is not a domain
    is a ValidationError naming it (strict), or left out with a warning (the
    environment variable: a typo there must not stop the service)."""
    from .senders import is_free_mail_domain

    found: set[str] = set()
    for value in values:
        domain = value.strip().lower().lstrip("@")
        if not domain:
            continue
        problem = ""
        if "." not in domain or any(c.isspace() or c in "/@:,;" for c in domain):
            problem = f"“{value.strip()}” is not a mail domain."
        elif is_free_mail_domain(domain):
            problem = (
                f"{domain} is a free mail provider: everyone writing from it would count as "
                "a colleague."
            )
        if problem:
            if strict:
                raise ValidationError(problem)
            logger.warning("POSTROOM_INTERNAL_DOMAINS: %s Left out.", problem)
            continue
        found.add(domain)
    return sorted(found)


# ------------------------------------------------------------------ precedence


def precedence_key(mailbox: Mailbox) -> tuple[int, int, int]:
    """Sorts mailboxes in the order their CRM rules decide: the administrator's number,
    then shared before personal, then the oldest."""
    personal = 0 if mailbox.kind == Mailbox.Kind.SHARED else 1
    return (mailbox.crm_precedence, personal, mailbox.pk)


def rule_mailboxes(message_ids: Iterable[int]) -> dict[int, str]:
    """{message id: address} of the mailbox whose CRM rule decided each incoming email
    (shown on the email: which of the mailboxes that got it decided its CRM outcome)."""
    from .models import Activity

    rows = Activity.objects.filter(message_id__in=list(message_ids), rule_mailbox__isnull=False)
    return dict(rows.values_list("message_id", "rule_mailbox__address"))


def shared_by_precedence() -> list[Mailbox]:
    """The shared mailboxes, first the one whose rule decides first (the settings page)."""
    return sorted(Mailbox.objects.filter(kind=Mailbox.Kind.SHARED), key=precedence_key)


# ---------------------------------------------------------------------- saving


@transaction.atomic
def do_save_settings(
    *,
    acting_user,
    internal_domains: Iterable[str],
    join_company_by_domain: bool,
    precedence: dict[int, int] | None = None,
) -> Settings:
    """Save the organisation's CRM settings (administrators only): the internal domains,
    the join option and each shared mailbox's precedence ({mailbox id: number})."""
    check_admin(acting_user, "change the organisation's CRM settings")
    domains = clean_domains(internal_domains)
    row, _ = CrmSettings.objects.select_for_update().get_or_create(pk=1)
    row.internal_domains = domains
    row.join_company_by_domain = join_company_by_domain
    row.updated_by = acting_user
    row.save()
    for mailbox_id, number in (precedence or {}).items():
        if not 0 <= number <= 10_000:
            raise ValidationError(f"A precedence is a number from 0 to 10000, not {number}.")
        Mailbox.objects.filter(pk=mailbox_id, kind=Mailbox.Kind.SHARED).update(
            crm_precedence=number
        )
    logger.info(
        "CRM settings saved by %s: internal domains %s, join by domain %s",
        acting_user,
        ", ".join(domains) or "(none)",
        join_company_by_domain,
    )
    transaction.on_commit(invalidate)
    invalidate()
    return current()
