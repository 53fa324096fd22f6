"""Creating and editing CRM items by hand (the CRM UI), with their timeline entries.

Every function checks the acting user's right through `postroom.crm.access` before it
writes, so a view (or a later API) cannot forget to: a refusal is CrmPermissionDenied
with a reason to show. Bad input is a ValidationError naming the field.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone

from postroom import webhooks

from . import actions, organisation
from .access import check, check_admin, check_edit
from .items import label_of, title_of
from .models import (
    Company,
    CompanyDomain,
    Contact,
    ContactEmail,
    ContactPhone,
    Deal,
    Lead,
    SmartField,
    SmartItem,
    SmartType,
    Stage,
    Task,
    TimelineEntry,
    domain_of,
    normalise_email,
)


def _entry(item: models.Model, *, acting_user, **fields) -> TimelineEntry:
    fields.setdefault("occurred_at", timezone.now())
    return TimelineEntry.objects.create(
        content_type=ContentType.objects.get_for_model(item),
        object_id=item.pk,
        author=acting_user,
        **fields,
    )


def _check_create(user, model, fields: dict) -> None:
    """`model` is an item model or a SmartType; the refusal names the user's roles.

    A new item without a responsible person gets its creator: every item has one, and
    with the "own" scope the creator would not even see it otherwise.
    """
    check(user, "create", model)
    if fields.get("responsible") is None:
        fields["responsible"] = user


def _created(item: models.Model, acting_user) -> None:
    by = f" by {acting_user.get_username()}" if acting_user else ""
    _entry(item, acting_user=acting_user, kind=TimelineEntry.Kind.CREATED, text=f"Created{by}")


def _check_stored(user, item: models.Model) -> None:
    """The right to edit the item as stored: a ModelForm has already put the new values
    (a new responsible person, say) on the instance it was given."""
    check_edit(user, type(item).objects.get(pk=item.pk))


def _set(item: models.Model, fields: dict) -> None:
    for name, value in fields.items():
        setattr(item, name, value)


# ------------------------------------------------------------------------ leads


LEAD_FIELDS = ("title", "name", "email", "phone", "company_name", "status", "responsible")


@transaction.atomic
def do_create_lead(*, acting_user, **fields) -> Lead:
    _check_create(acting_user, Lead, fields)
    lead = Lead(**fields)
    lead.email = normalise_email(lead.email)
    lead.save()
    _created(lead, acting_user)
    webhooks.emit("lead.created", lead)
    return lead


@transaction.atomic
def do_update_lead(lead: Lead, *, acting_user, **fields) -> Lead:
    _check_stored(acting_user, lead)
    _set(lead, fields)
    lead.email = normalise_email(lead.email)
    lead.save()
    return lead


# --------------------------------------------------------------------- contacts


def clean_emails(values: Iterable[str]) -> list[str]:
    """Normalised, valid, each once, in the given order; ValidationError names a bad one."""
    emails: list[str] = []
    for value in values:
        email = normalise_email(value)
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            raise ValidationError(f"“{value.strip()}” is not an email address.") from None
        if email not in emails:
            emails.append(email)
    return emails


def clean_domains(values: Iterable[str], company: Company | None = None) -> list[str]:
    """Lower-case domains without "@", each once; one of another company is refused."""
    domains: list[str] = []
    for value in values:
        domain = value.strip().lower().lstrip("@")
        if not domain:
            continue
        if "." not in domain or any(c.isspace() or c in "/@:" for c in domain):
            raise ValidationError(f"“{value.strip()}” is not a mail domain.")
        taken = CompanyDomain.objects.filter(domain=domain).exclude(company=company)
        owner = taken.select_related("company").first()
        if owner is not None:
            raise ValidationError(f"{domain} is already a domain of {owner.company.name}.")
        if domain not in domains:
            domains.append(domain)
    return domains


def _replace_emails(contact: Contact, emails: Sequence[str]) -> None:
    """The contact's emails become `emails`, the first primary; kept rows keep their id."""
    emails = clean_emails(emails)
    contact.emails.exclude(email__in=emails).delete()
    existing = {e.email: e for e in contact.emails.all()}
    for i, email in enumerate(emails):
        row = existing.get(email) or ContactEmail(contact=contact, email=email)
        if row.pk is None or row.is_primary != (i == 0):
            row.is_primary = i == 0
            row.save()


def _replace_phones(contact: Contact, phones: Sequence[str]) -> None:
    wanted = [p.strip() for p in phones if p.strip()]
    contact.phones.exclude(phone__in=wanted).delete()
    have = set(contact.phones.values_list("phone", flat=True))
    for phone in dict.fromkeys(wanted):
        if phone not in have:
            ContactPhone.objects.create(contact=contact, phone=phone)


def company_by_domain(emails: Iterable[str]) -> tuple[Company, str] | None:
    """(company, domain) of the first address at a company's mail domain (CompanyDomain;
    free mail never counts), or None."""
    from .senders import is_free_mail_domain

    domains = [domain_of(e) for e in emails if "@" in (e or "")]
    domains = [d for d in dict.fromkeys(domains) if d and not is_free_mail_domain(d)]
    if not domains:
        return None
    found = {
        row.domain: row.company
        for row in CompanyDomain.objects.filter(domain__in=domains).select_related("company")
    }
    for domain in domains:
        if domain in found:
            return found[domain], domain
    return None


def company_offer(contact: Contact, emails: list[str] | None = None) -> tuple[Company, str] | None:
    """The company a contact without one could join by its addresses' domain: offered on
    its page when the organisation's option does not join it by itself. `emails`: its
    addresses, primary first, when the caller has read them already."""
    if contact.company_id is not None:
        return None
    if emails is None:
        emails = contact.emails.order_by("-is_primary", "pk").values_list("email", flat=True)
    return company_by_domain(emails)


def _join_by_domain(contact: Contact, emails: Iterable[str], acting_user) -> None:
    """A contact saved by hand without a company joins the company of its addresses'
    domain, as captured contacts do, when the organisation's option is on."""
    if contact.company_id is not None or not organisation.current().join_company_by_domain:
        return
    if (match := company_by_domain(emails)) is not None:
        do_join_company(contact, match[0], acting_user=acting_user, domain=match[1])


@transaction.atomic
def do_join_company(contact: Contact, company: Company, *, acting_user, domain: str = "") -> None:
    """The contact joins the company (the offer on its page, or the option above)."""
    _check_stored(acting_user, contact)
    contact.company = company
    contact.save(update_fields=["company"])
    how = f" by the mail domain {domain}" if domain else ""
    _entry(
        contact,
        acting_user=acting_user,
        kind=TimelineEntry.Kind.CREATED,  # as capture records a join by the domain
        text=f"Joined {company.name}{how}",
    )


@transaction.atomic
def do_create_contact(
    *, acting_user, emails: Sequence[str] = (), phones: Sequence[str] = (), **fields
) -> Contact:
    _check_create(acting_user, Contact, fields)
    name = fields.pop("name")
    emails = clean_emails(emails)
    contact = actions.do_create_contact(
        name, emails=emails, phones=phones, acting_user=acting_user, **fields
    )
    _join_by_domain(contact, emails, acting_user)
    return contact


@transaction.atomic
def do_update_contact(
    contact: Contact, *, acting_user, emails: Sequence[str], phones: Sequence[str], **fields
) -> Contact:
    _check_stored(acting_user, contact)
    before = set(contact.emails.values_list("email", flat=True))
    _set(contact, fields)
    contact.save()
    _replace_emails(contact, emails)
    _replace_phones(contact, phones)
    # Only a newly added address joins: a company cleared on purpose stays cleared.
    _join_by_domain(contact, [e for e in clean_emails(emails) if e not in before], acting_user)
    return contact


# -------------------------------------------------------------------- companies


def _replace_domains(company: Company, domains: Sequence[str]) -> None:
    domains = clean_domains(domains, company)
    company.domains.exclude(domain__in=domains).delete()
    for domain in domains:
        try:
            actions.do_add_company_domain(company, domain)
        except actions.CrmError as exc:
            raise ValidationError(str(exc)) from None


@transaction.atomic
def do_create_company(*, acting_user, domains: Sequence[str] = (), **fields) -> Company:
    _check_create(acting_user, Company, fields)
    name = fields.pop("name")
    try:
        return actions.do_create_company(
            name, domains=clean_domains(domains), acting_user=acting_user, **fields
        )
    except actions.CrmError as exc:
        raise ValidationError(str(exc)) from None


@transaction.atomic
def do_update_company(
    company: Company, *, acting_user, domains: Sequence[str], **fields
) -> Company:
    _check_stored(acting_user, company)
    _set(company, fields)
    company.save()
    _replace_domains(company, domains)
    return company


# ------------------------------------------------------------- deals and stages


def _check_stage(item: Deal | SmartItem, stage: Stage) -> None:
    if isinstance(item, Deal) and stage.pipeline_id != item.pipeline_id:
        raise ValidationError(f"The stage “{stage.name}” is not a stage of this deal's pipeline.")
    if isinstance(item, SmartItem) and stage.smart_type_id != item.smart_type_id:
        raise ValidationError(f"The stage “{stage.name}” is not a stage of this item's type.")


@transaction.atomic
def do_create_deal(*, acting_user, title: str, **fields) -> Deal:
    _check_create(acting_user, Deal, fields)
    try:
        deal = actions.do_create_deal(title, acting_user=acting_user, **fields)
    except actions.CrmError as exc:
        raise ValidationError(str(exc)) from None
    _close_if_closing(deal)
    return deal


def _close_if_closing(item: Deal | SmartItem) -> None:
    # An item created straight into a won or lost stage is closed from the start.
    if not item.stage.is_open and item.closed_at is None:
        item.closed_at = timezone.now()
        item.save(update_fields=["closed_at"])


@transaction.atomic
def do_update_deal(deal: Deal, *, acting_user, stage: Stage, **fields) -> Deal:
    """Edit a deal; a new stage is a stage change (actions.do_move_stage), on its timeline."""
    stored = _stored_for_edit(acting_user, deal)
    _set(deal, fields)
    _check_stage(deal, stage)
    _move_stored(stored, stage, acting_user, pipeline=deal.pipeline)
    deal.stage, deal.closed_at = stored.stage, stored.closed_at
    deal.save(update_fields=[*fields])
    return deal


def _stored_for_edit(user, item):
    stored = type(item).objects.get(pk=item.pk)
    check_edit(user, stored)
    return stored


def _move_stored(stored: Deal | SmartItem, stage: Stage, user, *, pipeline=None) -> None:
    """The stage change first, on the item as stored: checked by the stored responsible
    person, before an edit that hands the item to someone else is saved."""
    if pipeline is not None:
        stored.pipeline = pipeline  # saved with the edit's fields, in the same transaction
    actions.do_move_stage(stored, stage, user=user)


def do_move_stage(item: Deal | SmartItem, stage: Stage, *, acting_user) -> bool:
    """Move to a stage (actions.do_move_stage); a wrong stage is a ValidationError."""
    try:
        return actions.do_move_stage(item, stage, user=acting_user)
    except actions.CrmError as exc:
        raise ValidationError(str(exc)) from None


# ------------------------------------------------------------------ smart items


def clean_smart_data(smart_type: SmartType, data: dict) -> dict:
    """The values of the type's fields, as JSON: numbers as numbers, dates ISO; others dropped."""
    cleaned: dict = {}
    for field in smart_type.fields.all():
        value = data.get(field.key)
        if value in (None, ""):
            continue
        if field.kind == SmartField.Kind.NUMBER:
            number = Decimal(str(value))
            value = int(number) if number == number.to_integral_value() else float(number)
        elif field.kind == SmartField.Kind.DATE:
            value = value.isoformat() if hasattr(value, "isoformat") else str(value)
        elif field.kind == SmartField.Kind.CHOICE and value not in field.choices:
            raise ValidationError(f"“{value}” is not a choice of {field.name}.")
        else:
            value = str(value)
        cleaned[field.key] = value
    return cleaned


@transaction.atomic
def do_create_smart_item(
    smart_type: SmartType, *, acting_user, title: str, data: dict, **fields
) -> SmartItem:
    _check_create(acting_user, smart_type, fields)
    try:
        item = actions.do_create_smart_item(
            smart_type,
            title,
            data=clean_smart_data(smart_type, data),
            acting_user=acting_user,
            **fields,
        )
    except actions.CrmError as exc:
        raise ValidationError(str(exc)) from None
    _close_if_closing(item)
    return item


@transaction.atomic
def do_update_smart_item(
    item: SmartItem, *, acting_user, stage: Stage, data: dict, **fields
) -> SmartItem:
    stored = _stored_for_edit(acting_user, item)
    _set(item, fields)
    _check_stage(item, stage)
    _move_stored(stored, stage, acting_user)
    item.stage, item.closed_at = stored.stage, stored.closed_at
    # Values of fields the type no longer has are kept: an admin may bring the field back.
    values = {**item.data, **clean_smart_data(item.smart_type, data)}
    for field in item.smart_type.fields.all():
        if data.get(field.key) in (None, ""):
            values.pop(field.key, None)
    item.data = values
    item.save(update_fields=[*fields, "data"])
    return item


# ------------------------------------------------------------------ smart types


@dataclass(frozen=True)
class StageSpec:
    name: str
    semantics: str = Stage.Semantics.OPEN


@dataclass(frozen=True)
class FieldSpec:
    name: str
    key: str
    kind: str = SmartField.Kind.TEXT
    choices: tuple[str, ...] = ()


@transaction.atomic
def do_define_smart_type(
    smart_type: SmartType | None,
    *,
    name: str,
    slug: str,
    stages: Sequence[StageSpec],
    fields: Sequence[FieldSpec],
    acting_user,
) -> SmartType:
    """Create or redefine a smart type: stages and fields matched by name and key.

    A stage that still holds items cannot be removed (ValidationError names it); a
    removed field's values stay in the items' data.
    """
    check_admin(acting_user, "define smart types")
    if not any(s.semantics == Stage.Semantics.OPEN for s in stages):
        raise ValidationError("A smart type needs at least one open stage.")
    if SmartType.objects.filter(slug=slug).exclude(pk=getattr(smart_type, "pk", None)).exists():
        raise ValidationError(f"The slug “{slug}” is taken by another smart type.")
    smart_type = smart_type or SmartType()
    smart_type.name, smart_type.slug = name, slug
    smart_type.save()

    existing = {s.name.lower(): s for s in smart_type.stages.all()}
    wanted = {spec.name.lower() for spec in stages}
    for old_name, stage in existing.items():
        if old_name not in wanted:
            if stage.smart_items.exists():
                raise ValidationError(
                    f"The stage “{stage.name}” still holds items: move them before removing it."
                )
            stage.delete()
    for i, spec in enumerate(stages):
        stage = existing.get(spec.name.lower()) or Stage(smart_type=smart_type)
        stage.name, stage.semantics, stage.sort = spec.name, spec.semantics, i * 10
        stage.save()

    keys = {spec.key for spec in fields}
    smart_type.fields.exclude(key__in=keys).delete()
    for i, spec in enumerate(fields):
        SmartField.objects.update_or_create(
            smart_type=smart_type,
            key=spec.key,
            defaults={
                "name": spec.name,
                "kind": spec.kind,
                "choices": list(spec.choices),
                "sort": i * 10,
            },
        )
    return smart_type


def describe(item: models.Model) -> str:
    """'deal “Chairs”', for messages."""
    return f"{label_of(item).lower()} “{title_of(item)}”"


@transaction.atomic
def do_delete_item(item: models.Model, *, acting_user) -> None:
    """Delete an item with its timeline entries and tasks; its emails stay on other items.

    Entries and tasks point at items generically (no foreign key), so nothing else
    would remove them.
    """
    check(acting_user, "delete", type(item).objects.get(pk=item.pk))
    content_type = ContentType.objects.get_for_model(item)
    TimelineEntry.objects.filter(content_type=content_type, object_id=item.pk).delete()
    Task.objects.filter(content_type=content_type, object_id=item.pk).delete()
    item.delete()
