"""Kanban boards (deals per pipeline, items per smart type) and the smart type admin page.

A board shows readable items in columns by stage; dragging a card POSTs its new stage
to the item's stage URL (crm_views.deal_stage / smart_item_stage), the same endpoint
the fallback form under each card uses, so the board works without JavaScript too.
Closed (won and lost) stages are work done: their cards show only with ?closed=1;
until then each is a narrow column with its count, still a place to drop a card on to
win or lose it (and the move form under each card offers them too).
"""

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom.crm import editing, smart_types
from postroom.crm.access import can_edit, check_admin, items_for
from postroom.crm.models import Deal, Pipeline, SmartType, Stage

from .crm_views import FilterForm, _search_staged, crm_view
from .forms_crm import SmartTypeForm

# Cards per column: a board is for work in progress, the list page has the rest.
COLUMN_LIMIT = 100


@dataclass
class Column:
    stage: Stage
    cards: list
    total: int
    collapsed: bool = False  # a closed stage, its cards not shown: a drop target


def _columns(user, queryset: models.QuerySet, stages) -> list[Column]:
    columns = []
    for stage in stages:
        in_stage = queryset.filter(stage=stage)
        cards = list(in_stage[:COLUMN_LIMIT])
        for card in cards:
            card.editable = can_edit(user, card)
        total = len(cards) if len(cards) < COLUMN_LIMIT else in_stage.count()
        columns.append(Column(stage, cards, total))
    return columns


def _toggle_url(request, show_closed: bool) -> str:
    """This board's URL (pipeline, filters kept) with the closed columns shown or not."""
    query = request.GET.copy()
    query.pop("closed", None)
    if show_closed:
        query["closed"] = "1"
    return f"?{query.urlencode()}" if query else "?"


def _board(request, *, title, queryset, stages, stage_url, list_url, extra) -> object:
    filters = FilterForm(request.GET, stages=None, pipelines=False)
    queryset = filters.apply(queryset, request.user, _search_staged)
    show_closed = request.GET.get("closed") == "1"
    shown = stages if show_closed else [s for s in stages if s.is_open]
    columns = _columns(request.user, queryset, shown)
    if not show_closed:
        columns += [
            Column(stage, [], queryset.filter(stage=stage).count(), collapsed=True)
            for stage in stages
            if not stage.is_open
        ]
    collapsed = [c for c in columns if c.collapsed]
    return render(
        request,
        "crm/board.html",
        {
            "title": title,
            "filters": filters,
            "columns": columns,
            "stages": stages,
            "stage_url": stage_url,
            "list_url": list_url,
            "show_closed": show_closed,
            # Cards in the collapsed columns, for the "Show closed" link.
            "closed_total": sum(c.total for c in collapsed),
            "has_closed_stages": any(not s.is_open for s in stages),
            "closed_toggle_url": _toggle_url(request, not show_closed),
            **extra,
        },
    )


@crm_view
def deal_board(request):
    pipelines = Pipeline.objects.all()
    chosen = request.GET.get("pipeline", "")
    pipeline = get_object_or_404(Pipeline, pk=chosen) if chosen.isdigit() else Pipeline.default()
    deals = (
        items_for(request.user, Deal)
        .filter(pipeline=pipeline)
        .select_related("responsible", "contact", "company")
    )
    return _board(
        request,
        title=f"Deals: {pipeline.name}",
        queryset=deals,
        stages=list(pipeline.stages.all()),
        stage_url="web:deal_stage",
        list_url="web:deals",
        extra={"pipelines": pipelines, "pipeline": pipeline, "amounts": True},
    )


@crm_view
def smart_board(request, slug: str):
    smart_type = get_object_or_404(SmartType, slug=slug)
    smart_items = items_for(request.user, smart_type).select_related(
        "responsible", "contact", "company", "smart_type"
    )
    return _board(
        request,
        title=smart_type.name,
        queryset=smart_items,
        stages=list(smart_type.stages.all()),
        stage_url="web:smart_item_stage",
        list_url="web:smart_items",
        extra={"smart_type": smart_type},
    )


# ------------------------------------------------------------- smart types


@crm_view
def smart_type_list(request):
    check_admin(request.user, "define smart types")
    return render(
        request,
        "crm/smart_type_list.html",
        {"smart_types": SmartType.objects.prefetch_related("stages", "fields")},
    )


@crm_view
def smart_type_form(request, type_id: int | None = None):
    check_admin(request.user, "define smart types")
    smart_type = get_object_or_404(SmartType, pk=type_id) if type_id else None
    initial = (
        SmartTypeForm.initial_for(smart_type)
        if smart_type
        else {"stages": "New\nIn progress\nDone: won\nDropped: lost"}
    )
    form = SmartTypeForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            saved = editing.do_define_smart_type(
                smart_type,
                name=data["name"],
                slug=data["slug"],
                stages=data["stages"],
                fields=data["field_specs"],
                acting_user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved the smart type {saved.name}.")
            return redirect("web:smart_types")
    return render(
        request,
        "crm/smart_type_form.html",
        {
            "form": form,
            "smart_type": smart_type,
            "blockers": smart_types.delete_blockers(smart_type) if smart_type else [],
        },
    )


@crm_view
@require_POST
def smart_type_delete(request, type_id: int):
    check_admin(request.user, "define smart types")
    smart_type = get_object_or_404(SmartType, pk=type_id)
    try:
        smart_types.do_delete_smart_type(smart_type, acting_user=request.user)
    except ValidationError as exc:
        for reason in exc.messages:
            messages.error(request, reason)
        return redirect("web:smart_type_edit", smart_type.pk)
    messages.success(request, f"Deleted the smart type {smart_type.name}.")
    return redirect("web:smart_types")
