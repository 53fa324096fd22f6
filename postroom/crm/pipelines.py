"""Pipelines and their stages, defined by an administrator (the pipeline editor).

A pipeline's stages are saved as one list, in order: a row with the id of a stored
stage renames it (and may change whether it is open, won or lost), a row without one
adds a stage, and a stored stage missing from the list is removed. Deals are never
moved or closed behind anyone's back, so:

- a stage that holds deals is not removed, nor made open/won/lost differently (that
  would open or close its deals without a stage change on their timelines): the
  refusal says how many deals are there and asks to move them first;
- a pipeline with deals is not deleted, nor is the last pipeline (new deals and mail
  captured as deals need one); deleting the default one makes another the default;
- every pipeline keeps an open stage, where new deals start (`Pipeline.first_stage`).

Refusals are ValidationErrors with a message for the admin; a user who is not an
administrator gets CrmPermissionDenied.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, ProtectedError

from . import access
from .models import Pipeline, Stage


@dataclass(frozen=True)
class StageRow:
    """One stage of the editor's list: `stage_id` None adds a stage."""

    name: str
    semantics: str = Stage.Semantics.OPEN
    stage_id: int | None = None


def check_admin(user) -> None:
    access.check_admin(user, "define pipelines")


def deals_phrase(count: int) -> str:
    return f"{count} deal" if count == 1 else f"{count} deals"


def deal_counts(pipeline: Pipeline) -> dict[int, int]:
    """Deals per stage id of the pipeline (stages without deals are absent)."""
    rows = (
        Stage.objects.filter(pipeline=pipeline)
        .annotate(n=Count("deals"))
        .filter(n__gt=0)
        .values_list("pk", "n")
    )
    return dict(rows)


def delete_blockers(pipeline: Pipeline) -> list[str]:
    """Why the pipeline cannot be deleted now; empty when it can."""
    reasons = []
    deals = pipeline.deals.count()
    if deals:
        reasons.append(
            f"The pipeline “{pipeline.name}” has {deals_phrase(deals)}: "
            "move them to another pipeline or delete them first."
        )
    if not Pipeline.objects.exclude(pk=pipeline.pk).exists():
        reasons.append(
            f"“{pipeline.name}” is the only pipeline: new deals need one. "
            "Create another pipeline first."
        )
    return reasons


def _clean_rows(rows: Sequence[StageRow], pipeline: Pipeline | None) -> list[StageRow]:
    cleaned: list[StageRow] = []
    seen: set[str] = set()
    for row in rows:
        name = row.name.strip()
        if not name:
            raise ValidationError("Every stage needs a name.")
        if row.semantics not in Stage.Semantics.values:
            raise ValidationError(f"The stage “{name}” is open, won or lost, not {row.semantics}.")
        if name.lower() in seen:
            raise ValidationError(f"The stage “{name}” is listed twice.")
        seen.add(name.lower())
        cleaned.append(StageRow(name=name[:200], semantics=row.semantics, stage_id=row.stage_id))
    if not any(r.semantics == Stage.Semantics.OPEN for r in cleaned):
        raise ValidationError("A pipeline needs at least one open stage: new deals start there.")
    ids = [r.stage_id for r in cleaned if r.stage_id is not None]
    if len(ids) != len(set(ids)):
        raise ValidationError("A stage is listed twice.")
    if ids:
        own = set(Stage.objects.filter(pipeline=pipeline, pk__in=ids).values_list("pk", flat=True))
        if pipeline is None or own != set(ids):
            raise ValidationError("A stage of another pipeline was listed; reload the page.")
    return cleaned


@transaction.atomic
def do_save_pipeline(
    pipeline: Pipeline | None,
    *,
    name: str,
    stages: Sequence[StageRow],
    is_default: bool = False,
    sort: int | None = None,
    acting_user,
) -> Pipeline:
    """Create or redefine a pipeline with its stages, in the given order (see the module)."""
    check_admin(acting_user)
    name = name.strip()
    if not name:
        raise ValidationError("A pipeline needs a name.")
    if pipeline is not None:
        # One editor at a time per pipeline; deals moving meanwhile are caught below.
        pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    rows = _clean_rows(stages, pipeline)
    if pipeline is not None and pipeline.is_default and not is_default:
        raise ValidationError(
            f"“{pipeline.name}” is the default pipeline: make another pipeline the default instead."
        )

    pipeline = pipeline or Pipeline()
    pipeline.name = name
    if sort is not None:
        pipeline.sort = sort
    elif pipeline.pk is None:
        last = Pipeline.objects.order_by("-sort").values_list("sort", flat=True).first()
        pipeline.sort = 0 if last is None else last + 10
    if is_default:
        Pipeline.objects.exclude(pk=pipeline.pk).filter(is_default=True).update(is_default=False)
    pipeline.is_default = is_default
    pipeline.save()

    stored = {s.pk: s for s in Stage.objects.select_for_update().filter(pipeline=pipeline)}
    counts = deal_counts(pipeline)
    kept = {r.stage_id for r in rows}
    for stage_id, stage in stored.items():
        if stage_id not in kept and counts.get(stage_id):
            raise ValidationError(
                f"The stage “{stage.name}” holds {deals_phrase(counts[stage_id])}: "
                "move them to another stage before removing it."
            )
    for row in rows:
        stage = stored.get(row.stage_id)
        if stage is not None and stage.semantics != row.semantics and counts.get(stage.pk):
            raise ValidationError(
                f"The stage “{stage.name}” holds {deals_phrase(counts[stage.pk])}: "
                f"move them to another stage before making it {row.semantics}."
            )
    removed = [s for stage_id, s in stored.items() if stage_id not in kept]
    try:
        for stage in removed:
            stage.delete()
    except ProtectedError:  # a deal moved onto it since the counts were read
        raise ValidationError(
            "A stage being removed has just received a deal: move it and try again."
        ) from None
    for i, row in enumerate(rows):
        stage = stored.get(row.stage_id) or Stage(pipeline=pipeline)
        stage.name, stage.semantics, stage.sort = row.name, row.semantics, i * 10
        stage.save()
    return pipeline


@transaction.atomic
def do_delete_pipeline(pipeline: Pipeline, *, acting_user) -> Pipeline | None:
    """Delete a pipeline without deals that is not the last one, with its stages.

    Returns the pipeline that became the default instead of it, if it was the default.
    """
    check_admin(acting_user)
    # Locks every pipeline: two admins deleting the last two cannot both succeed.
    pipelines = list(Pipeline.objects.select_for_update().order_by("sort", "pk"))
    pipeline = next((p for p in pipelines if p.pk == pipeline.pk), None)
    if pipeline is None:
        raise ValidationError("This pipeline was deleted meanwhile.")
    reasons = delete_blockers(pipeline)
    if reasons:
        raise ValidationError(reasons)
    was_default = pipeline.is_default
    try:
        pipeline.delete()
    except ProtectedError:
        raise ValidationError(
            f"The pipeline “{pipeline.name}” has just received a deal: it was not deleted."
        ) from None
    if not was_default:
        return None
    successor = next(p for p in pipelines if p is not pipeline)
    successor.is_default = True
    successor.save(update_fields=["is_default"])
    return successor
