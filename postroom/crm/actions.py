"""Writes to the CRM: every change of a CRM item goes through here.

Services that a person triggers take `user` and ask `access.check_edit` first, which
raises CrmPermissionDenied with a reason to show; capture (no person) passes none.
"""

import logging
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.urls import NoReverseMatch
from django.utils import timezone

from postroom import webhooks
from postroom.accounts.actions import do_notify
from postroom.mail.models import Message
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import CrmRuleKind, Mailbox

from . import items as item_kinds
from .access import CrmPermissionDenied, check, check_edit
from .models import (
    Activity,
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
    Task,
    TimelineEntry,
    normalise_email,
)
from .senders import (
    Directory,
    external_recipients,
    is_free_mail_domain,
    machine_mail_reason,
    only_in_spam,
)

logger = logging.getLogger(__name__)


class CrmError(ValueError):
    """A request the CRM refuses, with a reason to show (str(exc))."""


def default_responsible(mailbox: Mailbox | None):
    """Responsible person of a new item from this mailbox (until distribution rules)."""
    if mailbox is None:
        return None
    return mailbox.crm_responsible or mailbox.owner


def _entry(item: models.Model, **fields) -> TimelineEntry:
    fields.setdefault("occurred_at", timezone.now())
    return TimelineEntry.objects.create(
        content_type=ContentType.objects.get_for_model(item), object_id=item.pk, **fields
    )


def _created(item: models.Model, text: str | None, acting_user=None) -> None:
    if text is None:  # the caller writes the entry itself (capture, in bulk)
        return
    _entry(item, kind=TimelineEntry.Kind.CREATED, text=text, author=acting_user)


# ------------------------------------------------------------------- activities


def do_record_email_activity(message: Message, *, direction: str, responsible=None) -> Activity:
    """The one Activity of this email, created on first sight."""
    activity, created = Activity.objects.get_or_create(
        message=message,
        defaults={
            "kind": Activity.Kind.EMAIL,
            "direction": direction,
            "subject": message.subject,
            "occurred_at": message.sort_time,
            "responsible": responsible,
        },
    )
    if not created and activity.responsible_id is None and responsible is not None:
        activity.responsible = responsible
        activity.save(update_fields=["responsible"])
    return activity


def do_bind_activity(activity: Activity, item: models.Model) -> bool:
    """Show the activity on the item's timeline; False when it already was."""
    content_type = ContentType.objects.get_for_model(item)
    _, created = TimelineEntry.objects.get_or_create(
        content_type=content_type,
        object_id=item.pk,
        activity=activity,
        defaults={"kind": TimelineEntry.Kind.ACTIVITY, "occurred_at": activity.occurred_at},
    )
    return created


def do_bind_activity_to(activity: Activity, items: list[models.Model], *, fresh: bool = False):
    """Bind the activity to several items at once; returns those it was not on before.

    Two statements whatever the number of items (one when the activity is `fresh`, just
    created, so bound nowhere): capture binds every email to up to four items.
    """
    wanted = {
        (ContentType.objects.get_for_model(item).pk, item.pk): item
        for item in items
        if item is not None
    }
    if not fresh and wanted:
        there = TimelineEntry.objects.filter(
            activity=activity, content_type_id__in={ct for ct, _ in wanted}
        ).values_list("content_type_id", "object_id")
        for key in there:
            wanted.pop(key, None)
    TimelineEntry.objects.bulk_create(
        [
            TimelineEntry(
                content_type_id=ct, object_id=pk, activity=activity,
                kind=TimelineEntry.Kind.ACTIVITY, occurred_at=activity.occurred_at,
            )
            for ct, pk in wanted
        ],
        ignore_conflicts=True,  # a concurrent capture bound one meanwhile: once is enough
    )  # fmt: skip
    return list(wanted.values())


def record_activity(
    message: Message,
    *,
    direction: str,
    responsible_id: int | None = None,
    known: dict[int, Activity] | None = None,
):
    """(the email's Activity, whether it was made now), without a savepoint: for capture,
    which runs in a transaction of its own. `known`: the batch's activities by message
    id, read beforehand (then no query here)."""
    if known is not None:
        activity = known.get(message.pk)
    else:
        activity = Activity.objects.filter(message=message).first()
    if activity is not None:
        return activity, False
    activity = Activity.objects.create(
        message=message,
        kind=Activity.Kind.EMAIL,
        direction=direction,
        subject=message.subject,
        occurred_at=message.sort_time,
        responsible_id=responsible_id,
    )
    if known is not None:
        known[message.pk] = activity
    return activity, True


def do_unbind_activity(activity: Activity, item: models.Model) -> bool:
    """Take the activity off the item's timeline; False when it was not there."""
    deleted, _ = TimelineEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(item), object_id=item.pk, activity=activity
    ).delete()
    return bool(deleted)


def items_of(activity: Activity) -> list[models.Model]:
    """The CRM items the activity is bound to."""
    found = []
    for entry in activity.entries.all():
        item = item_kinds.item_from(entry.content_type_id, entry.object_id)
        if item is not None:
            found.append(item)
    return found


# ------------------------------------------------------------------ items


def do_create_company(
    name: str, *, domains: list[str] = (), responsible=None, acting_user=None
) -> Company:
    company = Company.objects.create(name=name, responsible=responsible)
    for domain in domains:
        do_add_company_domain(company, domain)
    _created(company, "Created", acting_user)
    return company


def do_add_company_domain(company: Company, domain: str) -> CompanyDomain:
    domain = domain.strip().lower().lstrip("@")
    if not domain or "." not in domain:
        raise CrmError(f"{domain!r} is not a mail domain")
    if is_free_mail_domain(domain):
        raise CrmError(
            f"{domain} is a free mail provider: its senders are not one company, so it "
            "cannot be a company's domain"
        )
    taken = CompanyDomain.objects.filter(domain=domain).select_related("company").first()
    if taken is not None and taken.company_id != company.pk:
        raise CrmError(f"{domain} is already the domain of {taken.company}")
    return taken or CompanyDomain.objects.create(company=company, domain=domain)


def do_create_contact(
    name: str,
    *,
    emails: list[str] = (),
    phones: list[str] = (),
    company: Company | None = None,
    responsible=None,
    source_mailbox: Mailbox | None = None,
    acting_user=None,
    created_text: str | None = "Created",
) -> Contact:
    contact = Contact.objects.create(
        name=name, company=company, responsible=responsible, source_mailbox=source_mailbox
    )
    for i, email in enumerate(dict.fromkeys(normalise_email(e) for e in emails if e)):
        ContactEmail.objects.create(contact=contact, email=email, is_primary=i == 0)
    for phone in phones:
        if phone.strip():
            ContactPhone.objects.create(contact=contact, phone=phone.strip())
    _created(contact, created_text, acting_user)
    return contact


def do_add_contact_email(contact: Contact, email: str, *, primary: bool = False) -> ContactEmail:
    email = normalise_email(email)
    if "@" not in email:
        raise CrmError(f"{email!r} is not an email address")
    row, _ = ContactEmail.objects.get_or_create(contact=contact, email=email)
    if primary or not contact.emails.exclude(pk=row.pk).filter(is_primary=True).exists():
        contact.emails.exclude(pk=row.pk).update(is_primary=False)
        if not row.is_primary:
            row.is_primary = True
            row.save(update_fields=["is_primary"])
    return row


def do_create_deal(
    title: str,
    *,
    contact: Contact | None = None,
    company: Company | None = None,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    lead: Lead | None = None,
    responsible=None,
    amount: Decimal | None = None,
    source_mailbox: Mailbox | None = None,
    acting_user=None,
    created_text: str | None = "Created",
) -> Deal:
    pipeline = pipeline or (stage.pipeline if stage else Pipeline.default())
    stage = stage or pipeline.first_stage()
    if stage is None or stage.pipeline_id != pipeline.pk:
        raise CrmError(f"the pipeline {pipeline} has no such stage")
    deal = Deal.objects.create(
        title=title[:500],
        pipeline=pipeline,
        stage=stage,
        contact=contact,
        company=company if company is not None else (contact.company if contact else None),
        lead=lead,
        responsible=responsible,
        amount=amount,
        source_mailbox=source_mailbox,
    )
    _created(deal, created_text, acting_user)
    return deal


def do_create_smart_item(
    smart_type: SmartType,
    title: str,
    *,
    contact: Contact | None = None,
    company: Company | None = None,
    stage: Stage | None = None,
    responsible=None,
    data: dict | None = None,
    source_mailbox: Mailbox | None = None,
    acting_user=None,
    created_text: str | None = "Created",
) -> SmartItem:
    stage = stage or smart_type.first_stage()
    if stage is None or stage.smart_type_id != smart_type.pk:
        raise CrmError(f"the smart type {smart_type} has no such stage")
    item = SmartItem.objects.create(
        smart_type=smart_type,
        title=title[:500],
        stage=stage,
        contact=contact,
        company=company if company is not None else (contact.company if contact else None),
        responsible=responsible,
        data=data or {},
        source_mailbox=source_mailbox,
    )
    _created(item, created_text, acting_user)
    return item


def resolve_smart_type(value: str) -> SmartType | None:
    """A smart type by slug, else by name (case-insensitive)."""
    value = (value or "").strip()
    if not value:
        return None
    return (
        SmartType.objects.filter(slug=value.lower()).first()
        or SmartType.objects.filter(name__iexact=value).first()
    )


def _title_of_email(message: Message) -> str:
    return message.subject or f"Email from {message.from_address}"


def new_lead_from_message(
    message: Message,
    mailbox: Mailbox,
    *,
    responsible=None,
    acting_user=None,
    created_text: str | None = "",
) -> Lead:
    """A new lead for the sender of `message` (the email not bound yet)."""
    lead = Lead.objects.create(
        title=_title_of_email(message)[:500],
        name=message.from_name,
        email=normalise_email(message.from_address),
        responsible=responsible,
        source_mailbox=mailbox,
    )
    if created_text == "":
        created_text = f"Created from an email to {mailbox.address}"
    _created(lead, created_text, acting_user)
    webhooks.emit("lead.created", lead)
    return lead


@transaction.atomic
def do_create_lead_from_message(
    message: Message, mailbox: Mailbox, *, acting_user=None, responsible=None
) -> Lead:
    """A new lead for the sender of `message`, with the email on its timeline."""
    responsible = responsible or default_responsible(mailbox)
    lead = new_lead_from_message(message, mailbox, responsible=responsible, acting_user=acting_user)
    activity = do_record_email_activity(message, direction="in", responsible=responsible)
    do_bind_activity(activity, lead)
    return lead


# ---------------------------------------------------------------- stages, tasks


@transaction.atomic
def do_move_stage(item: Deal | SmartItem, stage: Stage, *, user) -> bool:
    """Move a deal or smart item to a stage of its pipeline or type; False if already there."""
    check_edit(user, item)
    if isinstance(item, Deal) and stage.pipeline_id != item.pipeline_id:
        raise CrmError(f"{stage} is not a stage of the pipeline {item.pipeline}")
    if isinstance(item, SmartItem) and stage.smart_type_id != item.smart_type_id:
        raise CrmError(f"{stage} is not a stage of {item.smart_type}")
    if item.stage_id == stage.pk:
        return False
    before = item.stage
    item.stage = stage
    item.closed_at = None if stage.is_open else timezone.now()
    item.save(update_fields=["stage", "closed_at"])
    _entry(item, kind=TimelineEntry.Kind.STAGE, text=f"{before.name} → {stage.name}", author=user)
    webhooks.emit("deal.stage_changed", item, previous=before, actor=user)
    return True


@transaction.atomic
def do_create_task(
    title: str, *, item: models.Model | None = None, responsible=None, deadline=None, user=None
) -> Task:
    """A task, on an item's timeline when it has one; `user` None for system tasks (SLA)."""
    if item is not None and user is not None:
        check_edit(user, item)
    if not title.strip():
        raise CrmError("a task needs a title")
    task = Task(title=title.strip()[:500], responsible=responsible or user, deadline=deadline)
    task.created_by = user
    if item is not None:
        task.content_type = ContentType.objects.get_for_model(item)
        task.object_id = item.pk
    task.save()
    if item is not None:
        _entry(
            item, kind=TimelineEntry.Kind.TASK, task=task, text=f"Task: {task.title}", author=user
        )
    return task


@transaction.atomic
def do_complete_task(task: Task, *, user) -> bool:
    """Mark a task done; False when it already was."""
    item = task.item
    allowed = user is not None and (
        user.is_superuser
        or user.pk in (task.responsible_id, task.created_by_id)
        or (item is not None and _can_edit(user, item))
    )
    if not allowed:
        raise CrmPermissionDenied(
            f"You may not complete the task “{task.title}”: only its responsible person, its "
            "author or someone who may edit its item may."
        )
    if task.done_at is not None:
        return False
    task.done_at = timezone.now()
    task.save(update_fields=["done_at"])
    if item is not None:
        _entry(
            item, kind=TimelineEntry.Kind.TASK, task=task, text=f"Done: {task.title}", author=user
        )
    return True


@transaction.atomic
def do_finish_task(task: Task, *, text: str = "") -> bool:
    """Postroom marks a task of its own done (an SLA task, when the reply went out);
    False when it already was."""
    if not Task.objects.filter(pk=task.pk, done_at__isnull=True).update(done_at=timezone.now()):
        return False
    task.refresh_from_db(fields=["done_at"])
    if task.item is not None:
        text = text or f"Done: {task.title}"
        _entry(task.item, kind=TimelineEntry.Kind.TASK, task=task, text=text)
    return True


def _can_edit(user, item) -> bool:
    from .access import can_edit

    return can_edit(user, item)


@transaction.atomic
def do_add_comment(item: models.Model, text: str, *, user) -> TimelineEntry:
    check_edit(user, item)
    if not text.strip():
        raise CrmError("the comment is empty")
    return _entry(item, kind=TimelineEntry.Kind.COMMENT, text=text.strip(), author=user)


@transaction.atomic
def do_mark_read(item: models.Model, *, user) -> TimelineEntry:
    """A "read" mark: the user has looked at the item (shown on its timeline)."""
    return _entry(item, kind=TimelineEntry.Kind.READ, text=f"Read by {user}", author=user)


# ------------------------------------------------------------- lead conversion


@transaction.atomic
def do_convert_lead(
    lead: Lead, user, *, create_deal: bool = True
) -> tuple[Contact, Company | None, Deal | None]:
    """Lead -> contact (+ company when it names one) + deal; every email bound to the lead
    stays there and is bound to the new items as well."""
    check_edit(user, lead)
    # Converting creates a contact and a deal (maybe a company): the user needs the
    # right to create those too, or a lead would be a way around the roles.
    check(user, "create", Contact)
    if create_deal:
        check(user, "create", Deal)
    if lead.company_name.strip():
        check(user, "create", Company)
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    if lead.status == Lead.Status.CONVERTED:
        raise CrmError(f"the lead “{lead.title}” is converted already")
    if lead.status == Lead.Status.JUNK:
        raise CrmError(f"the lead “{lead.title}” is junk: reopen it before converting")
    responsible = lead.responsible or user
    company = None
    if lead.company_name.strip():
        company = Company.objects.filter(name__iexact=lead.company_name.strip()).first()
        if company is None:
            company = do_create_company(
                lead.company_name.strip(), responsible=responsible, acting_user=user
            )
    contact = None
    if lead.email:
        existing = ContactEmail.objects.filter(email=lead.email).select_related("contact")
        contact = next((row.contact for row in existing.order_by("contact_id")[:1]), None)
    if contact is None:
        contact = do_create_contact(
            lead.name or lead.email or lead.title,
            emails=[lead.email] if lead.email else [],
            phones=[lead.phone] if lead.phone else [],
            company=company,
            responsible=responsible,
            source_mailbox=lead.source_mailbox,
            acting_user=user,
            created_text=f"Converted from the lead “{lead.title}”",
        )
    elif company is not None and contact.company_id is None:
        contact.company = company
        contact.save(update_fields=["company"])
    deal = None
    if create_deal:
        deal = do_create_deal(
            lead.title,
            contact=contact,
            company=company,
            lead=lead,
            responsible=responsible,
            source_mailbox=lead.source_mailbox,
            acting_user=user,
            created_text=f"Converted from the lead “{lead.title}”",
        )
    new_items = [i for i in (contact, company, deal) if i is not None]
    lead_type = ContentType.objects.get_for_model(Lead)
    for entry in TimelineEntry.objects.filter(
        content_type=lead_type, object_id=lead.pk, activity__isnull=False
    ).select_related("activity"):
        for item in new_items:
            do_bind_activity(entry.activity, item)
    lead.status = Lead.Status.CONVERTED
    lead.converted_contact, lead.converted_company, lead.converted_deal = contact, company, deal
    lead.save(update_fields=["status", "converted_contact", "converted_company", "converted_deal"])
    made = ", ".join(
        f"{item_kinds.label_of(i).lower()} “{item_kinds.title_of(i)}”" for i in new_items
    )
    _entry(lead, kind=TimelineEntry.Kind.COMMENT, text=f"Converted to {made}", author=user)
    return contact, company, deal


# -------------------------------------------------------- manual save, relink


def why_not_in_crm(message: Message, mailbox: Mailbox | None = None) -> str:
    """Why this email may never be in the CRM, in words for the user; "" when it may."""
    if message.status != Message.Status.PARSED:
        return (
            f"This email cannot be saved to the CRM: it is {message.get_status_display().lower()}."
        )
    if reason := machine_mail_reason(message):
        kind = reason.split(":")[0]
        article = "an" if kind[0] in "aeiou" else "a"
        return (
            f"This email is {article} {kind}, not a person's email: machine mail never goes "
            "to the CRM, so that it creates no junk items and no mail loops."
        )
    if only_in_spam(message, mailbox):
        return "This email is in the spam folder: move it out of spam first if it is real mail."
    directory = Directory.lookup(
        [message.from_address, *message.to_addresses, *message.cc_addresses]
    )
    if not message.from_address:
        return "This email has no sender address, so no CRM item can be found for it."
    if directory.is_organisation(message.from_address) and not external_recipients(
        message, directory
    ):
        return (
            "This email is between the organisation's own people: internal mail never goes "
            "to the CRM."
        )
    return ""


def _check_mailbox_access(message: Message, user, doing: str = "save it to the CRM") -> Mailbox:
    """A mailbox holding the message that the user may read, else CrmPermissionDenied."""
    mailbox = mailboxes_for(user).filter(copies__message=message).distinct().first()
    if mailbox is None:
        raise CrmPermissionDenied(
            f"You have no access to a mailbox with this email, so you cannot {doing}."
        )
    return mailbox


def _direction(message: Message, directory: Directory) -> str:
    return "out" if directory.is_organisation(message.from_address) else "in"


@transaction.atomic
def do_save_to_crm(
    message: Message, user, *, item: models.Model | None = None, create: str = ""
) -> list[models.Model]:
    """Save an email by hand: to an existing `item`, or to a new one (`create` is "lead",
    "contact-deal" or "smart:SLUG"). Returns the items it is bound to now.

    For a user with access to a mailbox holding the email; refuses, with a reason,
    mail that never goes to the CRM (internal, machine mail, spam).
    """
    mailbox = _check_mailbox_access(message, user)
    if reason := why_not_in_crm(message):
        raise CrmError(reason)
    if (item is None) == (not create):
        raise CrmError("choose an existing item or what to create, not both")
    directory = Directory.lookup([message.from_address])
    direction = _direction(message, directory)
    if item is not None:
        check_edit(user, item)
        bound = [item]
    else:
        bound = _create_for_save(message, mailbox, user, create, directory)
    activity = do_record_email_activity(
        message, direction=direction, responsible=getattr(bound[0], "responsible", None)
    )
    for target in bound:
        do_bind_activity(activity, target)
    _entry(
        bound[0],
        kind=TimelineEntry.Kind.COMMENT,
        text=f"Email “{_title_of_email(message)}” saved to the CRM by {user}",
        author=user,
    )
    return bound


def _create_for_save(
    message: Message, mailbox: Mailbox, user, create: str, directory: Directory
) -> list[models.Model]:
    rule, _, slug = create.partition(":")
    person = message.from_address
    name = message.from_name
    if directory.is_organisation(person):
        # Our own email: the item is for the first customer it went to.
        recipients = external_recipients(
            message, Directory.lookup(message.to_addresses + message.cc_addresses)
        )
        person, name = recipients[0], ""
    title = _title_of_email(message)
    if rule == CrmRuleKind.LEAD:
        check(user, "create", Lead)
        lead = Lead.objects.create(
            title=title[:500], name=name, email=normalise_email(person), responsible=user,
            source_mailbox=mailbox,
        )  # fmt: skip
        _created(lead, "Created from an email, by hand", user)
        webhooks.emit("lead.created", lead)
        return [lead]
    if directory.contact(person) is None:
        check(user, "create", Contact)
    if rule == CrmRuleKind.CONTACT_DEAL:
        check(user, "create", Deal)
    smart_type = None
    if rule == CrmRuleKind.SMART:
        smart_type = resolve_smart_type(slug)
        if smart_type is None:
            raise CrmError(f"there is no smart type {slug!r}")
        check(user, "create", smart_type)
    elif rule != CrmRuleKind.CONTACT_DEAL:
        raise CrmError(f"cannot create {create!r}: use lead, contact-deal or smart:TYPE")
    contact = directory.contact(person) or do_create_contact(
        name or person, emails=[person], responsible=user, source_mailbox=mailbox, acting_user=user
    )
    linked = [contact] + ([contact.company] if contact.company else [])
    if rule == CrmRuleKind.CONTACT_DEAL:
        deal = do_create_deal(
            title, contact=contact, responsible=user, source_mailbox=mailbox, acting_user=user
        )
        return [deal, *linked]
    smart = do_create_smart_item(
        smart_type, title, contact=contact, responsible=user, source_mailbox=mailbox,
        acting_user=user,
    )  # fmt: skip
    return [smart, *linked]


@transaction.atomic
def do_move_email(message: Message, source: models.Model, target: models.Model, *, user) -> bool:
    """Move an email from one item's timeline (a deal, say) to another's.

    Needs read access to a mailbox holding the email (as saving it does) and edit
    permission on both; False when the email was not on `source`.
    """
    if type(source) is not type(target):
        raise CrmError("an email moves between items of the same kind (deal to deal)")
    _check_mailbox_access(message, user, "move it")
    check_edit(user, source)
    check_edit(user, target)
    activity = Activity.objects.filter(message=message).first()
    if activity is None or not do_unbind_activity(activity, source):
        return False
    do_bind_activity(activity, target)
    text = f"Email “{_title_of_email(message)}” moved from “{item_kinds.title_of(source)}”"
    _entry(target, kind=TimelineEntry.Kind.COMMENT, text=text, author=user)
    return True


# ------------------------------------------------------------- notifications


def notify_new_items(
    mailbox: Mailbox, created: list[models.Model], message: Message, *, users=None
) -> int:
    """Tell the mailbox's chosen users (crm_notify, or `users` read once by the caller)
    about items its mail created."""
    if not created:
        return 0
    users = list(mailbox.crm_notify.all()) if users is None else users
    if not users:
        return 0
    item = created[0]
    try:
        url = item_kinds.url_of(item)
    except NoReverseMatch:  # the item's page is not there yet (UI under way)
        url = ""
    label = item_kinds.label_of(item)
    text = (
        f"New {label.lower()} “{item_kinds.title_of(item)}” from {message.from_address} "
        f"in {mailbox.address}"
    )
    return do_notify(users, text, url=url)


# ------------------------------------------------------------ mailbox settings

# The default of a setting that may be set to None: "leave it as it is".
UNCHANGED: Any = object()


@transaction.atomic
def do_configure_mailbox_crm(
    mailbox: Mailbox,
    *,
    rule: str,
    smart_type: str = "",
    notify=None,
    route_to_manager: bool | None = None,
    join_company_domain: bool | None = None,
    responsible=UNCHANGED,
) -> Mailbox:
    """Set a mailbox's CRM rule and options; a smart rule must name an existing type.

    Options left out (None) stay as they are; `responsible` may be None, meaning the
    mailbox's owner, so it is left unchanged only when it is not given.
    """
    if rule not in CrmRuleKind.values:
        raise CrmError(f"unknown CRM rule {rule!r}: use lead, contact-deal, smart or none")
    slug = ""
    if rule == CrmRuleKind.SMART:
        found = resolve_smart_type(smart_type)
        if found is None:
            raise CrmError(f"there is no smart type {smart_type!r}: create it first")
        slug = found.slug
    mailbox.crm_rule, mailbox.crm_smart_type = rule, slug
    fields = ["crm_rule", "crm_smart_type"]
    if route_to_manager is not None:
        mailbox.crm_route_to_manager = route_to_manager
        fields.append("crm_route_to_manager")
    if join_company_domain is not None:
        mailbox.crm_join_company_domain = join_company_domain
        fields.append("crm_join_company_domain")
    if responsible is not UNCHANGED:
        mailbox.crm_responsible = responsible
        fields.append("crm_responsible")
    mailbox.save(update_fields=fields)
    if notify is not None:
        mailbox.crm_notify.set(notify)
    return mailbox
