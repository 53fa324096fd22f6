"""The pipeline editor (administrators only): the list of pipelines, a pipeline with
its stages, and deleting one. The rules live in postroom.crm.pipelines."""

import logging

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom.crm import pipelines
from postroom.crm.models import Pipeline, SmartType
from postroom.tracking import triggers

from .crm_views import crm_view
from .forms_pipeline import PipelineForm, StageFormSet, stage_initial

logger = logging.getLogger(__name__)


@crm_view
def pipeline_list(request):
    pipelines.check_admin(request.user)
    rows = Pipeline.objects.annotate(deal_total=Count("deals")).prefetch_related("stages")
    return render(request, "crm/pipeline_list.html", {"pipelines": rows})


@crm_view
def pipeline_form(request, pipeline_id: int | None = None):
    pipelines.check_admin(request.user)
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id) if pipeline_id else None
    form = PipelineForm(request.POST or None, initial=PipelineForm.initial_for(pipeline))
    stages = StageFormSet(request.POST or None, initial=stage_initial(pipeline), prefix="stages")
    if request.method == "POST" and form.is_valid() and stages.is_valid():
        try:
            saved = pipelines.do_save_pipeline(
                pipeline,
                name=form.cleaned_data["name"],
                is_default=form.cleaned_data["is_default"],
                stages=stages.rows(),
                acting_user=request.user,
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved the pipeline {saved.name}.")
            return redirect("web:pipelines")
    counts = pipelines.deal_counts(pipeline) if pipeline else {}
    for row in stages:
        stage_id = str(row["stage_id"].value() or "")
        row.deal_count = counts.get(int(stage_id), 0) if stage_id.isdigit() else 0
    return render(
        request,
        "crm/pipeline_form.html",
        {
            "form": form,
            "stages": stages,
            "pipeline": pipeline,
            "blockers": pipelines.delete_blockers(pipeline) if pipeline else [],
        },
    )


@crm_view
@require_POST
def pipeline_delete(request, pipeline_id: int):
    pipelines.check_admin(request.user)
    pipeline = get_object_or_404(Pipeline, pk=pipeline_id)
    try:
        successor = pipelines.do_delete_pipeline(pipeline, acting_user=request.user)
    except ValidationError as exc:
        for reason in exc.messages:
            messages.error(request, reason)
        return redirect("web:pipeline_edit", pipeline.pk)
    note = f" {successor.name} is the default pipeline now." if successor else ""
    messages.success(request, f"Deleted the pipeline {pipeline.name}.{note}")
    return redirect("web:pipelines")


# ------------------------------------------------------------- email triggers


@crm_view
@require_POST
def stage_triggers(request, owner: str, owner_id: int):
    """Save "when the client opens (clicks) an email of an item in this stage, move it
    to ..." for each stage of a pipeline or smart type (postroom.tracking.triggers)."""
    pipelines.check_admin(request.user)
    model = {"pipeline": Pipeline, "smart-type": SmartType}.get(owner)
    if model is None:
        raise Http404("no such kind of stages")
    found = get_object_or_404(model, pk=owner_id)
    back = (
        redirect("web:pipeline_edit", found.pk)
        if model is Pipeline
        else redirect("web:smart_type_edit", found.pk)
    )
    wanted: dict[tuple[int, str], int | None] = {}
    for stage in triggers.stages_of(found):
        for on in triggers.On.values:
            raw = request.POST.get(f"{on}_{stage.pk}", "").strip()
            if raw and not raw.isdigit():
                logger.warning("stage triggers: %s_%s=%r is no stage", on, stage.pk, raw[:40])
                messages.error(request, "A trigger named something that is not a stage.")
                return back
            wanted[(stage.pk, on)] = int(raw) if raw else None
    try:
        count = triggers.do_save_triggers(found, wanted, acting_user=request.user)
    except ValidationError as exc:
        for reason in exc.messages:
            messages.error(request, reason)
    else:
        messages.success(request, f"Saved the email triggers of {found.name} ({count} set).")
    return back
