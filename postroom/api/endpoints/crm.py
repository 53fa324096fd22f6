"""CRM items: leads, contacts, companies, deals, smart types and their items: list,
read, create, update, delete, timeline; convert a lead; move an email between items.

The CRM pages' rules (web/crm_views.py): lists and lookups through
crm.access.items_for (an item you may not read is a 404), changes through
crm.editing's do_… functions, which check the right and raise CrmPermissionDenied with
the reason (a 403 naming the right). Related items (a deal's contact, say) must be
items the caller may read, as the forms offer only those.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db.models import Model
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from pydantic import Field

from postroom.crm import actions, editing
from postroom.crm.access import check, check_edit, items_for, timeline_for
from postroom.crm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
)
from postroom.web.access import get_message_for_user

from ..errors import ApiError, responses
from ..pagination import DEFAULT_LIMIT, MAX_LIMIT, page_asc_pk
from .common import ItemRef, Page, caller, item_model, item_ref

router = Router(tags=["crm"])

Title = Annotated[str, Field(min_length=1, max_length=500)]
Name = Annotated[str, Field(min_length=1, max_length=300)]


class ListFilters(Schema):
    responsible: int | None = Field(None, description="a user's id")
    cursor: str | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)


# ------------------------------------------------------------------ shapes


class LeadOut(Schema):
    id: int
    title: str
    name: str
    email: str
    phone: str
    company_name: str
    status: str
    responsible_id: int | None
    source_mailbox_id: int | None
    converted_contact_id: int | None
    converted_company_id: int | None
    converted_deal_id: int | None
    created_at: datetime


class LeadIn(Schema):
    title: Title
    name: str = Field("", max_length=300)
    email: str = Field("", max_length=320)
    phone: str = Field("", max_length=64)
    company_name: str = Field("", max_length=300)
    status: Literal["new", "in_progress", "junk"] = "new"
    responsible_id: int | None = Field(None, description="default: you")


class LeadPatch(Schema):
    title: Title | None = None
    name: str | None = Field(None, max_length=300)
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    company_name: str | None = Field(None, max_length=300)
    status: Literal["new", "in_progress", "junk"] | None = None
    responsible_id: int | None = None


class ContactOut(Schema):
    id: int
    name: str
    company_id: int | None
    responsible_id: int | None
    source_mailbox_id: int | None
    emails: list[str]
    phones: list[str]
    created_at: datetime


class ContactIn(Schema):
    name: Name
    company_id: int | None = None
    responsible_id: int | None = None
    emails: list[Annotated[str, Field(max_length=320)]] = Field([], max_length=50)
    phones: list[Annotated[str, Field(max_length=64)]] = Field([], max_length=50)


class ContactPatch(Schema):
    name: Name | None = None
    company_id: int | None = None
    responsible_id: int | None = None
    emails: list[Annotated[str, Field(max_length=320)]] | None = Field(None, max_length=50)
    phones: list[Annotated[str, Field(max_length=64)]] | None = Field(None, max_length=50)


class CompanyOut(Schema):
    id: int
    name: str
    responsible_id: int | None
    domains: list[str]
    created_at: datetime


class CompanyIn(Schema):
    name: Name
    responsible_id: int | None = None
    domains: list[Annotated[str, Field(max_length=253)]] = Field([], max_length=50)


class CompanyPatch(Schema):
    name: Name | None = None
    responsible_id: int | None = None
    domains: list[Annotated[str, Field(max_length=253)]] | None = Field(None, max_length=50)


Amount = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]


class DealOut(Schema):
    id: int
    title: str
    pipeline_id: int
    stage_id: int
    amount: str | None = Field(None, description="a decimal, as text")
    contact_id: int | None
    company_id: int | None
    lead_id: int | None
    responsible_id: int | None
    source_mailbox_id: int | None
    closed_at: datetime | None
    created_at: datetime


class DealIn(Schema):
    title: Title
    pipeline_id: int | None = Field(None, description="default: the default pipeline")
    stage_id: int | None = Field(None, description="default: the pipeline's first stage")
    amount: Amount | None = None
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None


class DealPatch(Schema):
    title: Title | None = None
    stage_id: int | None = Field(None, description="a stage of the deal's pipeline")
    amount: Amount | None = None
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None


class SmartTypeOut(Schema):
    id: int
    name: str
    slug: str
    stages: list[dict]
    fields: list[dict]


class SmartItemOut(Schema):
    id: int
    smart_type: str
    title: str
    stage_id: int
    contact_id: int | None
    company_id: int | None
    responsible_id: int | None
    data: dict
    closed_at: datetime | None
    created_at: datetime


class SmartItemIn(Schema):
    title: Title
    stage_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None
    data: dict[str, str | int | float | None] = {}


class SmartItemPatch(Schema):
    title: Title | None = None
    stage_id: int | None = None
    contact_id: int | None = None
    company_id: int | None = None
    responsible_id: int | None = None
    data: dict[str, str | int | float | None] | None = None


class TimelineEntryOut(Schema):
    id: int
    kind: str
    occurred_at: datetime
    text: str
    author_id: int | None
    message_id: int | None = Field(None, description="for an email you may read")
    subject: str | None = None
    direction: str | None = None
    task_id: int | None


# ------------------------------------------------------------------ to JSON


def lead_out(lead: Lead) -> dict:
    return {
        "id": lead.pk,
        "title": lead.title,
        "name": lead.name,
        "email": lead.email,
        "phone": lead.phone,
        "company_name": lead.company_name,
        "status": lead.status,
        "responsible_id": lead.responsible_id,
        "source_mailbox_id": lead.source_mailbox_id,
        "converted_contact_id": lead.converted_contact_id,
        "converted_company_id": lead.converted_company_id,
        "converted_deal_id": lead.converted_deal_id,
        "created_at": lead.created_at,
    }


def contact_out(contact: Contact) -> dict:
    return {
        "id": contact.pk,
        "name": contact.name,
        "company_id": contact.company_id,
        "responsible_id": contact.responsible_id,
        "source_mailbox_id": contact.source_mailbox_id,
        "emails": [e.email for e in contact.emails.all()],
        "phones": [p.phone for p in contact.phones.all()],
        "created_at": contact.created_at,
    }


def company_out(company: Company) -> dict:
    return {
        "id": company.pk,
        "name": company.name,
        "responsible_id": company.responsible_id,
        "domains": [d.domain for d in company.domains.all()],
        "created_at": company.created_at,
    }


def deal_out(deal: Deal) -> dict:
    return {
        "id": deal.pk,
        "title": deal.title,
        "pipeline_id": deal.pipeline_id,
        "stage_id": deal.stage_id,
        "amount": None if deal.amount is None else str(deal.amount),
        "contact_id": deal.contact_id,
        "company_id": deal.company_id,
        "lead_id": deal.lead_id,
        "responsible_id": deal.responsible_id,
        "source_mailbox_id": deal.source_mailbox_id,
        "closed_at": deal.closed_at,
        "created_at": deal.created_at,
    }


def smart_item_out(item: SmartItem) -> dict:
    return {
        "id": item.pk,
        "smart_type": item.smart_type.slug,
        "title": item.title,
        "stage_id": item.stage_id,
        "contact_id": item.contact_id,
        "company_id": item.company_id,
        "responsible_id": item.responsible_id,
        "data": item.data or {},
        "closed_at": item.closed_at,
        "created_at": item.created_at,
    }


# ------------------------------------------------------------------ references


def _email(value: str | None) -> None:
    """As the lead form: an address, if one is given, is a valid one."""
    if value:
        try:
            validate_email(value)
        except ValidationError:
            raise ApiError(
                422, "not a valid email address", code="invalid", field="email"
            ) from None


def _person(user_id: int | None, field: str = "responsible_id"):
    if user_id is None:
        return None
    person = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if person is None:
        raise ApiError(422, "no such active user", code="invalid", field=field)
    return person


def _readable(user, model, pk: int | None, field: str):
    """A related item (a deal's contact): one the caller may read, as the forms offer."""
    if pk is None:
        return None
    item = items_for(user, model).filter(pk=pk).first()
    if item is None:
        raise ApiError(422, "no such item you may read", code="invalid", field=field)
    return item


def _stage(pk: int | None, field: str = "stage_id", **scope) -> Stage | None:
    if pk is None:
        return None
    stage = Stage.objects.filter(pk=pk, **scope).first()
    if stage is None:
        raise ApiError(422, "no such stage here", code="invalid", field=field)
    return stage


def _item(user, model, pk: int):
    queryset = items_for(user, model)
    if model is SmartItem:
        queryset = queryset.select_related("smart_type")
    return get_object_or_404(queryset, pk=pk)


def _editable(user, model, pk: int):
    item = _item(user, model, pk)
    check_edit(user, item)  # CrmPermissionDenied: a 403 with the reason
    return item


def _saved(save: Callable[[], Model]) -> Model:
    """Run an editing service; its CrmError is invalid input, as on the form."""
    try:
        return save()
    except actions.CrmError as exc:
        raise ApiError(422, str(exc), code="invalid") from None


def _list(user, model, filters: ListFilters, out: Callable[[Any], dict], *, related=(), **where):
    queryset = items_for(user, model).filter(**where)
    if filters.responsible is not None:
        queryset = queryset.filter(responsible_id=filters.responsible)
    if related:
        queryset = queryset.prefetch_related(*related)
    rows, next_cursor = page_asc_pk(queryset, filters.cursor, filters.limit)
    return {"items": [out(r) for r in rows], "next_cursor": next_cursor}


def _delete(user, model, pk: int):
    item = _item(user, model, pk)
    editing.do_delete_item(item, acting_user=user)
    return Status(204, None)


def _timeline(user, model, pk: int) -> list[dict]:
    item = _item(user, model, pk)
    entries = []
    for entry in timeline_for(user, item):
        activity = entry.activity if entry.activity_id else None
        visible = getattr(entry, "body_visible", True)
        entries.append(
            {
                "id": entry.pk,
                "kind": entry.kind,
                "occurred_at": entry.occurred_at,
                "text": entry.text,
                "author_id": entry.author_id,
                "message_id": activity.message_id if activity and visible else None,
                "subject": activity.subject if activity else None,
                "direction": activity.direction if activity else None,
                "task_id": entry.task_id,
            }
        )
    return entries


# ------------------------------------------------------------------ leads


@router.get("/leads/", response=responses(200, Page[LeadOut]), summary="List leads")
def list_leads(request, filters: Query[ListFilters]):
    return _list(caller(request), Lead, filters, lead_out)


@router.get("/leads/{int:lead_id}", response=responses(200, LeadOut), summary="Read a lead")
def read_lead(request, lead_id: int):
    return lead_out(_item(caller(request), Lead, lead_id))


@router.post("/leads/", response=responses(201, LeadOut), summary="Create a lead")
def create_lead(request, data: LeadIn):
    user = caller(request)
    _email(data.email)
    fields = data.dict(exclude={"responsible_id"})
    fields["responsible"] = _person(data.responsible_id)
    lead = _saved(lambda: editing.do_create_lead(acting_user=user, **fields))
    return Status(201, lead_out(lead))


@router.patch("/leads/{int:lead_id}", response=responses(200, LeadOut), summary="Update a lead")
def update_lead(request, lead_id: int, data: LeadPatch):
    user = caller(request)
    lead = _editable(user, Lead, lead_id)
    given = data.dict(exclude_unset=True)
    _email(given.get("email"))
    fields = {name: getattr(lead, name) for name in editing.LEAD_FIELDS}
    for name, value in given.items():
        if name == "responsible_id":
            fields["responsible"] = _person(value)
        elif value is not None:
            fields[name] = value
    return lead_out(_saved(lambda: editing.do_update_lead(lead, acting_user=user, **fields)))


@router.delete("/leads/{int:lead_id}", response=responses(204, None), summary="Delete a lead")
def delete_lead(request, lead_id: int):
    return _delete(caller(request), Lead, lead_id)


@router.get(
    "/leads/{int:lead_id}/timeline",
    response=responses(200, list[TimelineEntryOut]),
    summary="A lead's timeline",
)
def lead_timeline(request, lead_id: int):
    return _timeline(caller(request), Lead, lead_id)


class ConvertIn(Schema):
    create_deal: bool = True


class Converted(Schema):
    contact_id: int
    company_id: int | None
    deal_id: int | None


@router.post(
    "/leads/{int:lead_id}/convert", response=responses(200, Converted), summary="Convert a lead"
)
def convert_lead(request, lead_id: int, data: ConvertIn):
    """Into a contact (a company when it names one) and a deal; its emails stay bound
    to it and are bound to the new items. Needs the edit right on the lead and the
    create right on what it makes."""
    user = caller(request)
    lead = _editable(user, Lead, lead_id)
    try:
        contact, company, deal = actions.do_convert_lead(lead, user, create_deal=data.create_deal)
    except actions.CrmError as exc:
        raise ApiError(409, str(exc), code="conflict") from None
    return {
        "contact_id": contact.pk,
        "company_id": company.pk if company else None,
        "deal_id": deal.pk if deal else None,
    }


# ------------------------------------------------------------------ contacts


@router.get("/contacts/", response=responses(200, Page[ContactOut]), summary="List contacts")
def list_contacts(request, filters: Query[ListFilters]):
    return _list(caller(request), Contact, filters, contact_out, related=("emails", "phones"))


@router.get(
    "/contacts/{int:contact_id}", response=responses(200, ContactOut), summary="Read a contact"
)
def read_contact(request, contact_id: int):
    return contact_out(_item(caller(request), Contact, contact_id))


@router.post("/contacts/", response=responses(201, ContactOut), summary="Create a contact")
def create_contact(request, data: ContactIn):
    user = caller(request)
    check(user, "create", Contact)
    company = _readable(user, Company, data.company_id, "company_id")
    contact = _saved(
        lambda: editing.do_create_contact(
            acting_user=user,
            name=data.name,
            company=company,
            responsible=_person(data.responsible_id),
            emails=data.emails,
            phones=[p.strip() for p in data.phones if p.strip()],
        )
    )
    return Status(201, contact_out(contact))


@router.patch(
    "/contacts/{int:contact_id}", response=responses(200, ContactOut), summary="Update a contact"
)
def update_contact(request, contact_id: int, data: ContactPatch):
    user = caller(request)
    contact = _editable(user, Contact, contact_id)
    given = data.dict(exclude_unset=True)
    fields = {
        "name": given.get("name") or contact.name,
        "company": (
            _readable(user, Company, given["company_id"], "company_id")
            if "company_id" in given
            else contact.company
        ),
        "responsible": (
            _person(given["responsible_id"]) if "responsible_id" in given else contact.responsible
        ),
    }
    emails = given.get("emails")
    if emails is None:
        emails = [e.email for e in contact.emails.all()]
    else:
        emails = editing.clean_emails(emails)
    phones = given.get("phones")
    if phones is None:
        phones = [p.phone for p in contact.phones.all()]
    phones = [p.strip() for p in phones if p.strip()]
    saved = _saved(
        lambda: editing.do_update_contact(
            contact, acting_user=user, emails=emails, phones=phones, **fields
        )
    )
    return contact_out(saved)


@router.delete(
    "/contacts/{int:contact_id}", response=responses(204, None), summary="Delete a contact"
)
def delete_contact(request, contact_id: int):
    return _delete(caller(request), Contact, contact_id)


@router.get(
    "/contacts/{int:contact_id}/timeline",
    response=responses(200, list[TimelineEntryOut]),
    summary="A contact's timeline",
)
def contact_timeline(request, contact_id: int):
    return _timeline(caller(request), Contact, contact_id)


# ------------------------------------------------------------------ companies


@router.get("/companies/", response=responses(200, Page[CompanyOut]), summary="List companies")
def list_companies(request, filters: Query[ListFilters]):
    return _list(caller(request), Company, filters, company_out, related=("domains",))


@router.get(
    "/companies/{int:company_id}", response=responses(200, CompanyOut), summary="Read a company"
)
def read_company(request, company_id: int):
    return company_out(_item(caller(request), Company, company_id))


@router.post("/companies/", response=responses(201, CompanyOut), summary="Create a company")
def create_company(request, data: CompanyIn):
    user = caller(request)
    company = _saved(
        lambda: editing.do_create_company(
            acting_user=user,
            name=data.name,
            responsible=_person(data.responsible_id),
            domains=data.domains,
        )
    )
    return Status(201, company_out(company))


@router.patch(
    "/companies/{int:company_id}", response=responses(200, CompanyOut), summary="Update a company"
)
def update_company(request, company_id: int, data: CompanyPatch):
    user = caller(request)
    company = _editable(user, Company, company_id)
    given = data.dict(exclude_unset=True)
    domains = given.get("domains")
    if domains is None:
        domains = [d.domain for d in company.domains.all()]
    fields = {
        "name": given.get("name") or company.name,
        "responsible": (
            _person(given["responsible_id"]) if "responsible_id" in given else company.responsible
        ),
    }
    saved = _saved(
        lambda: editing.do_update_company(company, acting_user=user, domains=domains, **fields)
    )
    return company_out(saved)


@router.delete(
    "/companies/{int:company_id}", response=responses(204, None), summary="Delete a company"
)
def delete_company(request, company_id: int):
    return _delete(caller(request), Company, company_id)


@router.get(
    "/companies/{int:company_id}/timeline",
    response=responses(200, list[TimelineEntryOut]),
    summary="A company's timeline",
)
def company_timeline(request, company_id: int):
    return _timeline(caller(request), Company, company_id)


# ------------------------------------------------------------------ deals


@router.get("/deals/", response=responses(200, Page[DealOut]), summary="List deals")
def list_deals(request, filters: Query[ListFilters]):
    return _list(caller(request), Deal, filters, deal_out)


@router.get("/deals/{int:deal_id}", response=responses(200, DealOut), summary="Read a deal")
def read_deal(request, deal_id: int):
    return deal_out(_item(caller(request), Deal, deal_id))


@router.post("/deals/", response=responses(201, DealOut), summary="Create a deal")
def create_deal(request, data: DealIn):
    user = caller(request)
    check(user, "create", Deal)
    pipeline = None
    if data.pipeline_id is not None:
        pipeline = Pipeline.objects.filter(pk=data.pipeline_id).first()
        if pipeline is None:
            raise ApiError(422, "no such pipeline", code="invalid", field="pipeline_id")
    stage = _stage(data.stage_id, pipeline__isnull=False)
    if stage is not None and pipeline is None:
        pipeline = stage.pipeline
    deal = _saved(
        lambda: editing.do_create_deal(
            acting_user=user,
            title=data.title,
            pipeline=pipeline,
            stage=stage,
            amount=data.amount,
            contact=_readable(user, Contact, data.contact_id, "contact_id"),
            company=_readable(user, Company, data.company_id, "company_id"),
            responsible=_person(data.responsible_id),
        )
    )
    return Status(201, deal_out(deal))


@router.patch("/deals/{int:deal_id}", response=responses(200, DealOut), summary="Update a deal")
def update_deal(request, deal_id: int, data: DealPatch):
    """A new stage is a stage change, on the deal's timeline."""
    user = caller(request)
    deal = _editable(user, Deal, deal_id)
    given = data.dict(exclude_unset=True)
    fields: dict[str, Any] = {}
    if given.get("title"):
        fields["title"] = given["title"]
    if "amount" in given:
        fields["amount"] = given["amount"]
    if "contact_id" in given:
        fields["contact"] = _readable(user, Contact, given["contact_id"], "contact_id")
    if "company_id" in given:
        fields["company"] = _readable(user, Company, given["company_id"], "company_id")
    if "responsible_id" in given:
        fields["responsible"] = _person(given["responsible_id"])
    stage = _stage(given.get("stage_id"), pipeline=deal.pipeline) or deal.stage
    saved = _saved(lambda: editing.do_update_deal(deal, acting_user=user, stage=stage, **fields))
    return deal_out(saved)


@router.delete("/deals/{int:deal_id}", response=responses(204, None), summary="Delete a deal")
def delete_deal(request, deal_id: int):
    return _delete(caller(request), Deal, deal_id)


@router.get(
    "/deals/{int:deal_id}/timeline",
    response=responses(200, list[TimelineEntryOut]),
    summary="A deal's timeline",
)
def deal_timeline(request, deal_id: int):
    return _timeline(caller(request), Deal, deal_id)


# ------------------------------------------------------------------ smart types and items


def _smart_type(user, slug: str) -> SmartType:
    smart_type = SmartType.objects.filter(slug=slug).first()
    if smart_type is None:
        raise ApiError(404, "no such smart type")
    return smart_type


def smart_type_out(t: SmartType) -> dict:
    return {
        "id": t.pk,
        "name": t.name,
        "slug": t.slug,
        "stages": [
            {"id": s.pk, "name": s.name, "semantics": s.semantics}
            for s in t.stages.order_by("sort", "pk")
        ],
        "fields": [
            {"key": f.key, "name": f.name, "kind": f.kind, "choices": f.choices}
            for f in t.fields.order_by("sort", "pk")
        ],
    }


@router.get(
    "/smart-types/", response=responses(200, list[SmartTypeOut]), summary="List smart types"
)
def list_smart_types(request):
    return [smart_type_out(t) for t in SmartType.objects.order_by("name", "pk")]


@router.get(
    "/smart-types/{slug}/items",
    response=responses(200, Page[SmartItemOut]),
    summary="List a smart type's items",
)
def list_smart_items(request, slug: str, filters: Query[ListFilters]):
    user = caller(request)
    smart_type = _smart_type(user, slug)
    page = _list(
        user, SmartItem, filters, smart_item_out, related=("smart_type",), smart_type=smart_type
    )
    return page


@router.post(
    "/smart-types/{slug}/items",
    response=responses(201, SmartItemOut),
    summary="Create a smart item",
)
def create_smart_item(request, slug: str, data: SmartItemIn):
    user = caller(request)
    smart_type = _smart_type(user, slug)
    check(user, "create", smart_type)
    item = _saved(
        lambda: editing.do_create_smart_item(
            smart_type,
            acting_user=user,
            title=data.title,
            data=data.data,
            stage=_stage(data.stage_id, smart_type=smart_type),
            contact=_readable(user, Contact, data.contact_id, "contact_id"),
            company=_readable(user, Company, data.company_id, "company_id"),
            responsible=_person(data.responsible_id),
        )
    )
    return Status(201, smart_item_out(item))


@router.get(
    "/smart-items/{int:item_id}", response=responses(200, SmartItemOut), summary="Read a smart item"
)
def read_smart_item(request, item_id: int):
    return smart_item_out(_item(caller(request), SmartItem, item_id))


@router.patch(
    "/smart-items/{int:item_id}",
    response=responses(200, SmartItemOut),
    summary="Update a smart item",
)
def update_smart_item(request, item_id: int, data: SmartItemPatch):
    user = caller(request)
    item = _editable(user, SmartItem, item_id)
    given = data.dict(exclude_unset=True)
    fields: dict[str, Any] = {}
    if given.get("title"):
        fields["title"] = given["title"]
    if "contact_id" in given:
        fields["contact"] = _readable(user, Contact, given["contact_id"], "contact_id")
    if "company_id" in given:
        fields["company"] = _readable(user, Company, given["company_id"], "company_id")
    if "responsible_id" in given:
        fields["responsible"] = _person(given["responsible_id"])
    stage = _stage(given.get("stage_id"), smart_type=item.smart_type) or item.stage
    values = given.get("data")
    if values is None:
        values = dict(item.data or {})
    saved = _saved(
        lambda: editing.do_update_smart_item(
            item, acting_user=user, stage=stage, data=values, **fields
        )
    )
    return smart_item_out(saved)


@router.delete(
    "/smart-items/{int:item_id}", response=responses(204, None), summary="Delete a smart item"
)
def delete_smart_item(request, item_id: int):
    return _delete(caller(request), SmartItem, item_id)


@router.get(
    "/smart-items/{int:item_id}/timeline",
    response=responses(200, list[TimelineEntryOut]),
    summary="A smart item's timeline",
)
def smart_item_timeline(request, item_id: int):
    return _timeline(caller(request), SmartItem, item_id)


# ------------------------------------------------------------------ moving an email


class Ref(Schema):
    kind: Literal["lead", "contact", "company", "deal", "smart_item"]
    id: int


class MoveIn(Schema):
    message_id: int
    source: Ref
    target: Ref


class Moved(Schema):
    moved: bool
    target: ItemRef


@router.post("/move-email", response=responses(200, Moved), summary="Move an email")
def move_email(request, data: MoveIn):
    """From one item's timeline to another's of the same kind (deal to deal). Needs a
    mailbox holding the email and the edit right on both items."""
    user = caller(request)
    message = get_message_for_user(user, data.message_id)
    source = _readable(user, item_model(data.source.kind), data.source.id, "source")
    target = _readable(user, item_model(data.target.kind), data.target.id, "target")
    try:
        moved = actions.do_move_email(message, source, target, user=user)
    except actions.CrmError as exc:
        raise ApiError(422, str(exc), code="invalid") from None
    if not moved:
        raise ApiError(409, "the email is not on the source item", code="conflict")
    return {"moved": True, "target": item_ref(target)}
