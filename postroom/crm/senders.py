"""Who an address is, as far as the CRM is concerned: the organisation, a contact, an
open lead, a person at a known company, or no one.

`Directory.lookup` answers for a whole batch of addresses with one query per table, so
that capturing 500 messages costs a handful of indexed lookups, not 500 of each.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models.functions import Lower

from postroom.mail.models import Message, MessageCopy
from postroom.mailboxes.models import Folder, Mailbox

from . import organisation
from .models import Company, CompanyDomain, Contact, ContactEmail, Lead, domain_of, normalise_email

# Mail providers whose domain says nothing about a company: a new gmail.com sender never
# joins the company that happens to have listed gmail.com, and such a domain cannot be
# given to a company.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com",
        "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "msn.com", "icloud.com",
        "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.de",
        "gmx.net", "gmx.com", "web.de", "t-online.de", "mail.com", "zoho.com", "yandex.ru",
        "yandex.com", "mail.ru", "qq.com", "163.com", "126.com", "fastmail.com", "tutanota.com",
        "hey.com", "orange.fr", "free.fr", "libero.it", "seznam.cz", "wp.pl", "o2.pl",
    }
)  # fmt: skip


def is_free_mail_domain(domain: str) -> bool:
    return domain.strip().lower().lstrip("@") in FREE_MAIL_DOMAINS


def internal_domains() -> frozenset[str]:
    """The organisation's own mail domains (its CRM settings, cached: organisation.py)."""
    return organisation.internal_domains()


@dataclass
class Directory:
    """What each of a batch of addresses is in the CRM (addresses normalised)."""

    contacts: dict[str, Contact] = field(default_factory=dict)  # email -> oldest contact
    leads: dict[str, Lead] = field(default_factory=dict)  # email -> newest open lead
    companies: dict[str, Company] = field(default_factory=dict)  # domain -> company
    organisation: set[str] = field(default_factory=set)  # users' and mailboxes' addresses
    domains: frozenset[str] = frozenset()  # internal domains

    @classmethod
    def lookup(cls, addresses: Iterable[str]) -> "Directory":
        wanted = {normalise_email(a) for a in addresses if a and "@" in a}
        directory = cls(domains=internal_domains())
        if not wanted:
            return directory
        emails = (
            ContactEmail.objects.filter(email__in=wanted)
            .select_related("contact__company")
            .order_by("contact_id")
        )
        for row in emails:
            directory.contacts.setdefault(row.email, row.contact)
        # Their managers are a few colleagues: each read once, not once per contact.
        _attach_responsible(list(directory.contacts.values()))
        leads = Lead.objects.filter(email__in=wanted, status__in=Lead.OPEN_STATUSES).order_by(
            "-created_at", "-pk"
        )
        for lead in leads.select_related("responsible"):
            directory.leads.setdefault(lead.email, lead)
        domains = {domain_of(a) for a in wanted} - FREE_MAIL_DOMAINS
        for row in CompanyDomain.objects.filter(domain__in=domains).select_related("company"):
            directory.companies[row.domain] = row.company
        users = get_user_model().objects.annotate(lower_email=Lower("email"))
        directory.organisation.update(
            users.filter(lower_email__in=wanted).values_list("lower_email", flat=True)
        )
        mailboxes = Mailbox.objects.annotate(lower_address=Lower("address"))
        directory.organisation.update(
            mailboxes.filter(lower_address__in=wanted).values_list("lower_address", flat=True)
        )
        return directory

    def is_organisation(self, address: str) -> bool:
        address = normalise_email(address)
        return address in self.organisation or domain_of(address) in self.domains

    def contact(self, address: str) -> Contact | None:
        return self.contacts.get(normalise_email(address))

    def lead(self, address: str) -> Lead | None:
        return self.leads.get(normalise_email(address))

    def company_by_domain(self, address: str) -> Company | None:
        return self.companies.get(domain_of(address))

    def remember_contact(self, address: str, contact: Contact) -> None:
        """A contact made while capturing a batch: later mail of the batch finds it."""
        self.contacts.setdefault(normalise_email(address), contact)

    def remember_lead(self, address: str, lead: Lead) -> None:
        self.leads[normalise_email(address)] = lead


def _attach_responsible(contacts: list[Contact]) -> None:
    ids = {c.responsible_id for c in contacts if c.responsible_id}
    users = get_user_model().objects.in_bulk(ids) if ids else {}
    cache = Contact.responsible.field
    for contact in contacts:
        cache.set_cached_value(contact, users.get(contact.responsible_id))


_MACHINE_MAIL = {
    Message.Kind.AUTO_REPLY: "auto-reply: never creates CRM items",
    Message.Kind.LIST: "mailing-list mail: never creates CRM items",
    Message.Kind.BOUNCE: "bounce: never creates CRM items",
}


def machine_mail_reason(message: Message) -> str:
    """Why this is not a person's email, or ""."""
    return _MACHINE_MAIL.get(message.kind, "")


def sent_by_us(message_ids: Iterable[int], mailbox: Mailbox) -> set[int]:
    """Those messages with a copy in the mailbox's Sent folder (or the Outbox's)."""
    return set(
        MessageCopy.objects.filter(
            message_id__in=list(message_ids), mailbox=mailbox, folder__role=Folder.Role.SENT
        ).values_list("message_id", flat=True)
    )


def only_in_spam(message: Message, mailbox: Mailbox | None = None) -> bool:
    """True when every copy of the message (in `mailbox`, if given) is in a spam folder."""
    copies = MessageCopy.objects.filter(message=message)
    if mailbox is not None:
        copies = copies.filter(mailbox=mailbox)
    return copies.exists() and not copies.exclude(folder__role=Folder.Role.SPAM).exists()


def external_recipients(message: Message, directory: Directory) -> list[str]:
    """To and Cc addresses outside the organisation, normalised, in order, once each."""
    found = []
    for address in [*message.to_addresses, *message.cc_addresses]:
        address = normalise_email(address)
        if address and "@" in address and not directory.is_organisation(address):
            found.append(address)
    return list(dict.fromkeys(found))
