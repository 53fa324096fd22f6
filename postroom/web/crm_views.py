"""The CRM pages: lists with filters, item pages with the timeline, create and edit.

Every view reads through `postroom.crm.access`: an item the user may not read is 404
(nothing confirms it exists), one they read but may not change is 403 with the reason
(`denied`). Writes go through `postroom.crm.editing` and `postroom.crm.actions`.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import models
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from postroom.accounts.people import active_people, person_choices, person_label
from postroom.crm import actions, editing
from postroom.crm import items as item_kinds
from postroom.crm.access import (
    CrmPermissionDenied,
    can_create,
    can_delete,
    can_edit,
    check,
    check_edit,
    items_for,
)
from postroom.crm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
    Task,
)
from postroom.crm.text_search import text_filter

from .crm_timeline import related_items, timeline_for
from .forms_crm import (
    CommentForm,
    CompanyForm,
    ContactForm,
    DealForm,
    LeadForm,
    SmartItemForm,
    StageForm,
    TaskForm,
)
from .refusals import refused

PAGE_SIZE = 50


def denied(request: HttpRequest, reason: str) -> HttpResponse:
    """403 with the reason, as a page (or as text for a script's request), logged once."""
    return refused(request, reason)


def _wants_json(request: HttpRequest) -> bool:
    return request.headers.get("X-Requested-With") == "fetch"


def crm_view(view: Callable) -> Callable:
    """login_required, and a CrmPermissionDenied anywhere below becomes a 403 page."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except CrmPermissionDenied as exc:
            return denied(request, exc.reason)

    return wrapper


def _check_create(user, model) -> None:
    """CrmPermissionDenied, with the reason, unless the user may create items of `model`."""
    check(user, "create", model)


# --------------------------------------------------------------------- filters


class FilterForm(forms.Form):
    q = forms.CharField(required=False, label="Search")
    responsible = forms.ChoiceField(required=False)
    stage = forms.ChoiceField(required=False)
    pipeline = forms.ModelChoiceField(queryset=Pipeline.objects.all(), required=False)

    def __init__(
        self,
        data,
        *,
        stages: list[tuple[str, str]] | None,
        pipelines: bool,
        stage_label: str = "Stage",
    ):
        super().__init__(data)
        self.fields["responsible"].choices = [
            ("", "Anyone"),
            ("me", "Me"),
            ("none", "Nobody"),
        ] + person_choices(active_people()[:200])
        if stages is None:
            del self.fields["stage"]
        else:
            self.fields["stage"].choices = [("", "Any"), *stages]
            # Leads have a status, not stages: the filter says what it filters by.
            self.fields["stage"].label = stage_label
        if not pipelines:
            del self.fields["pipeline"]

    def apply(self, queryset: models.QuerySet, user, search: Callable[[str], Q]):
        if not self.is_valid():
            return queryset
        data = self.cleaned_data
        if q := data.get("q", "").strip():
            queryset = queryset.filter(search(q))
        who = data.get("responsible")
        if who == "me":
            queryset = queryset.filter(responsible=user)
        elif who == "none":
            queryset = queryset.filter(responsible__isnull=True)
        elif who:
            queryset = queryset.filter(responsible_id=who)
        if stage := data.get("stage"):
            if stage in ("open", "closed"):
                queryset = getattr(queryset, stage)()
            elif stage.isdigit():
                queryset = queryset.filter(stage_id=stage)
            else:
                queryset = queryset.filter(status=stage)
        if data.get("pipeline"):
            queryset = queryset.filter(pipeline=data["pipeline"])
        return queryset


def _search(model):
    return lambda q: text_filter(model, q)


_search_leads = _search(Lead)
_search_contacts = _search(Contact)
_search_companies = _search(Company)
_search_staged = _search(Deal)  # deals and smart items match alike


# ----------------------------------------------------------------- list pages


@dataclass
class Row:
    url: str
    title: str
    cells: list = field(default_factory=list)


def _stage_choices(stages) -> list[tuple[str, str]]:
    return [("open", "Open"), ("closed", "Closed")] + [
        (str(s.pk), f"{s.pipeline.name}: {s.name}" if s.pipeline_id else s.name) for s in stages
    ]


def _list(
    request,
    *,
    title,
    queryset,
    filters,
    search,
    columns,
    make_row,
    create_url,
    extra=None,
    everything=None,
):
    """One list page. `everything` is the list's items whatever the user's rights (by
    default all of the model's): when none of the items the user may read are shown but
    some of those are there, the page says "nothing you may see", not "nothing here"."""
    queryset = filters.apply(queryset, request.user, search)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    unseen = False
    if not page.object_list:
        everything = queryset.model._default_manager.all() if everything is None else everything
        unseen = filters.apply(everything, request.user, search).exists()
    return render(
        request,
        "crm/item_list.html",
        {
            "title": title,
            "filters": filters,
            "columns": columns,
            "rows": [make_row(obj) for obj in page],
            "page": page,
            "create_url": create_url,
            "unseen": unseen,
            **(extra or {}),
        },
    )


def _who(user) -> str:
    return person_label(user)


@crm_view
def lead_list(request):
    filters = FilterForm(
        request.GET, stages=list(Lead.Status.choices), pipelines=False, stage_label="Status"
    )
    return _list(
        request,
        title="Leads",
        queryset=items_for(request.user, Lead).select_related("responsible", "source_mailbox"),
        filters=filters,
        search=_search_leads,
        columns=["Lead", "Name", "Email", "Status", "Responsible", "Source", "Created"],
        make_row=lambda lead: Row(
            lead.get_absolute_url(),
            lead.title,
            [
                lead.name,
                lead.email,
                lead.get_status_display(),
                _who(lead.responsible),
                lead.source_mailbox.address if lead.source_mailbox else "—",
                lead.created_at,
            ],
        ),
        create_url="web:lead_create" if can_create(request.user, Lead) else "",
    )


@crm_view
def contact_list(request):
    filters = FilterForm(request.GET, stages=None, pipelines=False)
    contacts = (
        items_for(request.user, Contact)
        .select_related("responsible", "company")
        .prefetch_related("emails")
    )
    return _list(
        request,
        title="Contacts",
        queryset=contacts,
        filters=filters,
        search=_search_contacts,
        columns=["Contact", "Email", "Company", "Responsible", "Created"],
        make_row=lambda c: Row(
            c.get_absolute_url(),
            str(c),
            [c.primary_email, c.company or "—", _who(c.responsible), c.created_at],
        ),
        create_url="web:contact_create" if can_create(request.user, Contact) else "",
    )


@crm_view
def company_list(request):
    filters = FilterForm(request.GET, stages=None, pipelines=False)
    companies = (
        items_for(request.user, Company).select_related("responsible").prefetch_related("domains")
    )
    return _list(
        request,
        title="Companies",
        queryset=companies,
        filters=filters,
        search=_search_companies,
        columns=["Company", "Domains", "Responsible", "Created"],
        make_row=lambda c: Row(
            c.get_absolute_url(),
            c.name,
            [", ".join(d.domain for d in c.domains.all()), _who(c.responsible), c.created_at],
        ),
        create_url="web:company_create" if can_create(request.user, Company) else "",
    )


@crm_view
def deal_list(request):
    stages = Stage.objects.filter(pipeline__isnull=False).select_related("pipeline")
    filters = FilterForm(request.GET, stages=_stage_choices(stages), pipelines=True)
    deals = items_for(request.user, Deal).select_related(
        "responsible", "stage", "pipeline", "contact", "company"
    )
    return _list(
        request,
        title="Deals",
        queryset=deals,
        filters=filters,
        search=_search_staged,
        columns=["Deal", "Stage", "Amount", "Contact", "Company", "Responsible", "Created"],
        make_row=lambda d: Row(
            d.get_absolute_url(),
            d.title,
            [
                f"{d.pipeline.name}: {d.stage.name}",
                d.amount if d.amount is not None else "—",
                d.contact or "—",
                d.company or "—",
                _who(d.responsible),
                d.created_at,
            ],
        ),
        create_url="web:deal_create" if can_create(request.user, Deal) else "",
        extra={"board_url": "web:deal_board"},
    )


@crm_view
def smart_item_list(request, slug: str):
    smart_type = get_object_or_404(SmartType, slug=slug)
    filters = FilterForm(
        request.GET, stages=_stage_choices(smart_type.stages.all()), pipelines=False
    )
    smart_items = items_for(request.user, smart_type).select_related(
        "responsible", "stage", "contact", "company", "smart_type"
    )
    return _list(
        request,
        title=smart_type.name,
        queryset=smart_items,
        filters=filters,
        search=_search_staged,
        columns=[smart_type.name, "Stage", "Contact", "Company", "Responsible", "Created"],
        make_row=lambda i: Row(
            i.get_absolute_url(),
            i.title,
            [i.stage.name, i.contact or "—", i.company or "—", _who(i.responsible), i.created_at],
        ),
        create_url="web:smart_item_create" if can_create(request.user, smart_type) else "",
        extra={"smart_type": smart_type, "board_url": "web:smart_board"},
        everything=SmartItem.objects.filter(smart_type=smart_type),
    )


@login_required
def crm_home(request):
    return render(request, "crm/home.html", {"smart_types": SmartType.objects.all()})


# ----------------------------------------------------------------- item pages


def _link(item) -> str:
    if item is None:
        return "—"
    return format_html('<a href="{}">{}</a>', item_kinds.url_of(item), item_kinds.title_of(item))


def _readable(user, obj):
    """The related item when the user may read it, else None (nothing is shown)."""
    if obj is None:
        return None
    return items_for(user, type(obj)).filter(pk=obj.pk).first()


def _of_kind(items: list, model) -> list:
    return [i for i in items if isinstance(i, model)]


def _links(items) -> str:
    items = list(items)
    if not items:
        return "—"
    return format_html_join(
        ", ", '<a href="{}">{}</a>', ((item_kinds.url_of(i), item_kinds.title_of(i)) for i in items)
    )


_LIST_URLS = {
    "lead": "web:leads",
    "contact": "web:contacts",
    "company": "web:companies",
    "deal": "web:deals",
}


def _mailto(addresses) -> str:
    links = format_html_join(", ", '<a href="mailto:{0}">{0}</a>', ((a,) for a in addresses))
    return links or "—"


def _detail(
    request, item, *, facts, related, edit_url, extra=None, timeline_related=None
) -> HttpResponse:
    user = request.user
    editable = can_edit(user, item)
    context = {
        "item": item,
        "kind": item_kinds.kind_of(item),
        "list_url": _LIST_URLS.get(item_kinds.kind_of(item).key, "web:crm"),
        "label": item_kinds.label_of(item),
        "title": item_kinds.title_of(item),
        "facts": facts,
        "related": related,
        "timeline": timeline_for(user, item, timeline_related),
        "can_edit": editable,
        "can_delete": can_delete(user, item),
        "edit_url": edit_url,
        "comment_form": CommentForm() if editable else None,
        "task_form": TaskForm(initial={"responsible": user}) if editable else None,
        **(extra or {}),
    }
    return render(request, "crm/item_detail.html", context)


@crm_view
def lead_detail(request, lead_id: int):
    lead = get_object_or_404(
        items_for(request.user, Lead).select_related("responsible", "source_mailbox"), pk=lead_id
    )
    converted = [
        _readable(request.user, obj)
        for obj in (lead.converted_contact, lead.converted_company, lead.converted_deal)
    ]
    facts = [
        ("Name", lead.name or "—"),
        ("Email", format_html('<span class="lead-email">{}</span>', lead.email)),
        ("Phone", lead.phone or "—"),
        ("Company", lead.company_name or "—"),
        ("Status", lead.get_status_display()),
        ("Responsible", _who(lead.responsible)),
        ("Source", lead.source_mailbox.address if lead.source_mailbox else "—"),
    ]
    related = [("Converted to", _links(i for i in converted if i is not None))]
    return _detail(
        request,
        lead,
        facts=facts,
        related=related if lead.status == Lead.Status.CONVERTED else [],
        edit_url="web:lead_edit",
        extra={"convert_url": "web:lead_convert" if lead.is_open else ""},
    )


@crm_view
def contact_detail(request, contact_id: int):
    user = request.user
    contact = get_object_or_404(
        items_for(user, Contact).select_related("responsible", "company", "source_mailbox"),
        pk=contact_id,
    )
    emails = sorted(contact.emails.all(), key=lambda e: (not e.is_primary, e.pk))
    facts = [
        (
            "Emails",
            format_html_join(", ", '<a href="mailto:{0}">{0}</a>', ((e.email,) for e in emails))
            or "—",
        ),
        ("Phones", ", ".join(p.phone for p in contact.phones.all()) or "—"),
        ("Company", _link(_readable(user, contact.company))),
        ("Responsible", _who(contact.responsible)),
        ("Source", contact.source_mailbox.address if contact.source_mailbox else "—"),
    ]
    # Read once for the side lists and the timeline (their entries are on it).
    deals_and_smart = related_items(user, contact)
    related = [
        ("Deals", _links(_of_kind(deals_and_smart, Deal)[:50])),
        ("Smart items", _links(_of_kind(deals_and_smart, SmartItem)[:50])),
    ]
    addresses = [e.email for e in emails]
    return _detail(
        request,
        contact,
        facts=facts,
        related=related,
        edit_url="web:contact_edit",
        extra={
            "new_deal_query": f"contact={contact.pk}",
            # The company of its mail domain, when it has none (issue 19, point 13).
            "company_offer": (
                editing.company_offer(contact, addresses) if can_edit(user, contact) else None
            ),
        },
        timeline_related=deals_and_smart,
    )


@crm_view
def company_detail(request, company_id: int):
    user = request.user
    company = get_object_or_404(
        items_for(user, Company).select_related("responsible"), pk=company_id
    )
    facts = [
        ("Domains", ", ".join(d.domain for d in company.domains.all()) or "—"),
        ("Responsible", _who(company.responsible)),
    ]
    deals_and_smart = related_items(user, company)
    related = [
        ("Contacts", _links(items_for(user, Contact).filter(company=company)[:50])),
        ("Deals", _links(_of_kind(deals_and_smart, Deal)[:50])),
        ("Smart items", _links(_of_kind(deals_and_smart, SmartItem)[:50])),
    ]
    return _detail(
        request,
        company,
        facts=facts,
        related=related,
        edit_url="web:company_edit",
        extra={"new_deal_query": f"company={company.pk}"},
        timeline_related=deals_and_smart,
    )


def _stage_extra(user, item, url_name: str, stages) -> dict:
    if not can_edit(user, item):
        return {}
    return {
        "stage_form": StageForm(initial={"stage": item.stage}, stages=stages),
        "stage_url": url_name,
    }


@crm_view
def deal_detail(request, deal_id: int):
    user = request.user
    deal = get_object_or_404(
        items_for(user, Deal).select_related("responsible", "stage", "pipeline", "source_mailbox"),
        pk=deal_id,
    )
    facts = [
        ("Pipeline", deal.pipeline.name),
        ("Stage", format_html('<span class="stage">{}</span>', deal.stage.name)),
        ("Amount", deal.amount if deal.amount is not None else "—"),
        ("Responsible", _who(deal.responsible)),
        ("Source", deal.source_mailbox.address if deal.source_mailbox else "—"),
    ]
    related = [
        ("Contact", _link(_readable(user, deal.contact))),
        ("Company", _link(_readable(user, deal.company))),
        ("Lead", _link(_readable(user, deal.lead))),
    ]
    return _detail(
        request,
        deal,
        facts=facts,
        related=related,
        edit_url="web:deal_edit",
        extra=_stage_extra(user, deal, "web:deal_stage", deal.pipeline.stages.all()),
    )


@crm_view
def smart_item_detail(request, item_id: int):
    user = request.user
    item = get_object_or_404(
        items_for(user, SmartItem).select_related("responsible", "stage", "smart_type"),
        pk=item_id,
    )
    facts = [("Stage", format_html('<span class="stage">{}</span>', item.stage.name))]
    for smart_field in item.smart_type.fields.all():
        value = item.data.get(smart_field.key)
        facts.append((smart_field.name, "—" if value in (None, "") else value))
    facts.append(("Responsible", _who(item.responsible)))
    related = [
        ("Contact", _link(_readable(user, item.contact))),
        ("Company", _link(_readable(user, item.company))),
    ]
    return _detail(
        request,
        item,
        facts=facts,
        related=related,
        edit_url="web:smart_item_edit",
        extra={
            "smart_type": item.smart_type,
            **_stage_extra(user, item, "web:smart_item_stage", item.smart_type.stages.all()),
        },
    )


# ----------------------------------------------------------- create and edit


def _form_page(request, form, *, title, back_url, smart_type=None) -> HttpResponse:
    return render(
        request,
        "crm/item_form.html",
        {"form": form, "title": title, "back_url": back_url, "smart_type": smart_type},
    )


def _save(form, save: Callable[[], models.Model]):
    """Run the service; its ValidationError becomes a form error. The item, or None."""
    try:
        return save()
    except ValidationError as exc:
        form.add_error(None, exc)
    except actions.CrmError as exc:
        form.add_error(None, str(exc))
    return None


def _editable(user, queryset, pk):
    """The item if readable (else 404) and editable (else CrmPermissionDenied)."""
    item = get_object_or_404(queryset, pk=pk)
    check_edit(user, item)
    return item


def _fields(form, *names) -> dict:
    return {name: form.cleaned_data[name] for name in names}


def _item_form_page(request, form, item, *, create, update, title, smart_type=None):
    """The create/edit page of a CRM item: on a valid POST the service `create()`s or
    `update()`s it (both read the form's cleaned data) and the page goes to the item."""
    if request.method == "POST" and form.is_valid():
        saved = _save(form, update if item else create)
        if saved:
            messages.success(request, "Saved.")
            return redirect(saved)
    back_url = item.get_absolute_url() if item else ""
    return _form_page(request, form, title=title, back_url=back_url, smart_type=smart_type)


@crm_view
def lead_form(request, lead_id: int | None = None):
    user = request.user
    lead = _editable(user, items_for(user, Lead), lead_id) if lead_id else None
    if lead is None:
        _check_create(user, Lead)
    initial = {} if lead else {"responsible": user}
    form = LeadForm(request.POST or None, instance=lead, user=user, initial=initial)

    def values() -> dict:
        return _fields(form, *editing.LEAD_FIELDS)

    return _item_form_page(
        request,
        form,
        lead,
        create=lambda: editing.do_create_lead(acting_user=user, **values()),
        update=lambda: editing.do_update_lead(lead, acting_user=user, **values()),
        title=f"Edit lead “{lead.title}”" if lead else "New lead",
    )


@crm_view
def contact_form(request, contact_id: int | None = None):
    user = request.user
    contact = _editable(user, items_for(user, Contact), contact_id) if contact_id else None
    if contact is None:
        _check_create(user, Contact)
    initial = {} if contact else {"responsible": user, "company": request.GET.get("company")}
    form = ContactForm(request.POST or None, instance=contact, user=user, initial=initial)

    def values() -> dict:
        return _fields(form, "name", "company", "responsible", "emails", "phones")

    return _item_form_page(
        request,
        form,
        contact,
        create=lambda: editing.do_create_contact(acting_user=user, **values()),
        update=lambda: editing.do_update_contact(contact, acting_user=user, **values()),
        title=f"Edit contact “{contact}”" if contact else "New contact",
    )


@crm_view
def company_form(request, company_id: int | None = None):
    user = request.user
    company = _editable(user, items_for(user, Company), company_id) if company_id else None
    if company is None:
        _check_create(user, Company)
    initial = {} if company else {"responsible": user}
    form = CompanyForm(request.POST or None, instance=company, user=user, initial=initial)

    def values() -> dict:
        return _fields(form, "name", "responsible", "domains")

    return _item_form_page(
        request,
        form,
        company,
        create=lambda: editing.do_create_company(acting_user=user, **values()),
        update=lambda: editing.do_update_company(company, acting_user=user, **values()),
        title=f"Edit company “{company}”" if company else "New company",
    )


@crm_view
def deal_form(request, deal_id: int | None = None):
    user = request.user
    deal = _editable(user, items_for(user, Deal), deal_id) if deal_id else None
    if deal is None:
        _check_create(user, Deal)
    initial = {}
    if deal is None:
        initial = {"responsible": user}
        contact = _readable_id(user, Contact, request.GET.get("contact"))
        if contact is not None:
            initial["contact"] = contact
            initial["company"] = _readable(user, contact.company)
        company = _readable_id(user, Company, request.GET.get("company"))
        if company is not None:
            initial["company"] = company
    form = DealForm(request.POST or None, instance=deal, user=user, initial=initial)

    def values() -> dict:
        return _fields(
            form, "title", "amount", "contact", "company", "responsible", "pipeline", "stage"
        )

    return _item_form_page(
        request,
        form,
        deal,
        create=lambda: editing.do_create_deal(acting_user=user, **values()),
        update=lambda: editing.do_update_deal(deal, acting_user=user, **values()),
        title=f"Edit deal “{deal}”" if deal else "New deal",
    )


def _readable_id(user, model, value):
    if not (value or "").isdigit():
        return None
    return items_for(user, model).filter(pk=value).first()


@crm_view
def smart_item_form(request, slug: str | None = None, item_id: int | None = None):
    user = request.user
    item = None
    if item_id:
        item = _editable(user, items_for(user, SmartItem).select_related("smart_type"), item_id)
        smart_type = item.smart_type
    else:
        smart_type = get_object_or_404(SmartType, slug=slug)
        _check_create(user, smart_type)
    initial = {} if item else {"responsible": user}
    if item is None:
        contact = _readable_id(user, Contact, request.GET.get("contact"))
        if contact is not None:
            initial["contact"] = contact
    form = SmartItemForm(
        request.POST or None, instance=item, user=user, smart_type=smart_type, initial=initial
    )

    def values() -> dict:
        fields = _fields(form, "title", "contact", "company", "responsible", "stage")
        return {**fields, "data": form.data_values()}

    return _item_form_page(
        request,
        form,
        item,
        create=lambda: editing.do_create_smart_item(smart_type, acting_user=user, **values()),
        update=lambda: editing.do_update_smart_item(item, acting_user=user, **values()),
        title=f"Edit “{item}”" if item else f"New {smart_type.name}",
        smart_type=smart_type,
    )


# ------------------------------------------- comments, tasks, stage, conversion

_KIND_MODELS = {kind.key: kind.model for kind in item_kinds.KINDS}


def _item_for_edit(request, kind: str, item_id: int):
    model = _KIND_MODELS.get(kind)
    if model is None:
        raise Http404
    return _editable(request.user, items_for(request.user, model), item_id)


@crm_view
@require_POST
def add_comment(request, kind: str, item_id: int):
    item = _item_for_edit(request, kind, item_id)
    form = CommentForm(request.POST)
    if form.is_valid():
        actions.do_add_comment(item, form.cleaned_data["text"], user=request.user)
    else:
        messages.error(request, "The comment is empty.")
    return redirect(item_kinds.url_of(item))


@crm_view
@require_POST
def add_task(request, kind: str, item_id: int):
    item = _item_for_edit(request, kind, item_id)
    form = TaskForm(request.POST)
    if form.is_valid():
        actions.do_create_task(
            form.cleaned_data["title"],
            item=item,
            responsible=form.cleaned_data["responsible"] or request.user,
            deadline=form.cleaned_data["deadline"],
            user=request.user,
        )
        messages.success(request, "Task added.")
    else:
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"The task was not added: {errors}")
    return redirect(item_kinds.url_of(item))


@crm_view
@require_POST
def complete_task(request, task_id: int):
    task = get_object_or_404(Task, pk=task_id)
    item = task.item
    readable = item is not None and items_for(request.user, type(item)).filter(pk=item.pk).exists()
    if not readable and task.responsible_id != request.user.pk:
        raise Http404
    actions.do_complete_task(task, user=request.user)
    return redirect(item_kinds.url_of(item) if readable else "web:crm")


def move_stage(request, item, stages) -> HttpResponse:
    """POST stage=<id>: move a deal or smart item; JSON-free answers for the board's script."""
    form = StageForm(request.POST, stages=stages)
    if not form.is_valid():
        if _wants_json(request):
            return HttpResponse("Choose a stage of this item.", status=400)
        messages.error(request, "Choose a stage of this item.")
        return redirect(item)
    try:
        moved = editing.do_move_stage(item, form.cleaned_data["stage"], acting_user=request.user)
    except ValidationError as exc:
        if _wants_json(request):
            return HttpResponse(" ".join(exc.messages), status=400)
        messages.error(request, " ".join(exc.messages))
        return redirect(item)
    if _wants_json(request):
        return HttpResponse("moved" if moved else "unchanged")
    if moved:
        messages.success(request, f"Moved to {form.cleaned_data['stage'].name}.")
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect(item)


@crm_view
@require_POST
def deal_stage(request, deal_id: int):
    deal = _editable(request.user, items_for(request.user, Deal), deal_id)
    return move_stage(request, deal, deal.pipeline.stages.all())


@crm_view
@require_POST
def smart_item_stage(request, item_id: int):
    item = _editable(request.user, items_for(request.user, SmartItem), item_id)
    return move_stage(request, item, item.smart_type.stages.all())


@crm_view
@require_POST
def lead_convert(request, lead_id: int):
    lead = _editable(request.user, items_for(request.user, Lead), lead_id)
    try:
        contact, company, deal = actions.do_convert_lead(lead, request.user)
    except actions.CrmError as exc:
        messages.error(request, str(exc))
        return redirect(lead)
    messages.success(request, "Converted: the lead's emails are on the new items too.")
    return redirect(deal or contact)


@crm_view
@require_POST
def delete_item(request, kind: str, item_id: int):
    model = _KIND_MODELS.get(kind)
    if model is None:
        raise Http404
    item = get_object_or_404(items_for(request.user, model), pk=item_id)
    label = editing.describe(item)
    back = _LIST_URLS.get(kind)
    if isinstance(item, SmartItem):
        back_url = reverse("web:smart_items", args=[item.smart_type.slug])
    else:
        back_url = reverse(back)
    editing.do_delete_item(item, acting_user=request.user)
    messages.success(request, f"Deleted the {label}.")
    return redirect(back_url)
