"""The pipeline editor's rules (postroom.crm.pipelines): stages renamed, reordered, added
and removed; a stage or pipeline holding deals is kept; the last pipeline stays."""

import pytest
from django.core.exceptions import ValidationError

from postroom.crm import actions, pipelines
from postroom.crm.access import CrmPermissionDenied
from postroom.crm.models import Pipeline, Stage
from postroom.crm.pipelines import StageRow
from postroom.testing.factories import DealFactory, UserFactory, default_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def root():
    return UserFactory(username="root", is_superuser=True)


def rows_of(pipeline: Pipeline) -> list[StageRow]:
    return [StageRow(s.name, s.semantics, s.pk) for s in pipeline.stages.all()]


def stages_of(pipeline: Pipeline) -> list[tuple[str, str]]:
    return [(s.name, s.semantics) for s in pipeline.stages.all()]


def rentals(root, name="Rentals") -> Pipeline:
    return pipelines.do_save_pipeline(
        None,
        name=name,
        stages=[StageRow("Asked"), StageRow("Booked", "won"), StageRow("Declined", "lost")],
        acting_user=root,
    )


def test_an_administrator_creates_a_pipeline_with_its_stages_in_order(root):
    pipeline = rentals(root)
    assert pipeline.name == "Rentals" and not pipeline.is_default
    assert stages_of(pipeline) == [("Asked", "open"), ("Booked", "won"), ("Declined", "lost")]
    assert pipeline.first_stage().name == "Asked"
    # After the existing pipelines: the board's switcher lists it last.
    assert list(Pipeline.objects.all())[-1] == pipeline


def test_only_an_administrator_defines_or_deletes_pipelines(root):
    manager = UserFactory(username="mia")
    manager.roles.add(default_role("Manager"))
    with pytest.raises(CrmPermissionDenied, match="Only an administrator"):
        pipelines.do_save_pipeline(None, name="X", stages=[StageRow("A")], acting_user=manager)
    with pytest.raises(CrmPermissionDenied):
        pipelines.do_delete_pipeline(rentals(root), acting_user=manager)
    assert not Pipeline.objects.filter(name="X").exists()


def test_stages_are_renamed_reordered_and_added_and_deals_stay_on_them(root):
    sales = Pipeline.default()
    new, in_progress, won, lost = sales.stages.all()
    deal = DealFactory(title="Chairs", stage=in_progress)
    pipelines.do_save_pipeline(
        sales,
        name="Sales EU",
        is_default=True,
        stages=[
            StageRow("Talking", "open", in_progress.pk),
            StageRow("New", "open", new.pk),
            StageRow("Offer sent"),
            StageRow("Won", "won", won.pk),
            StageRow("Lost", "lost", lost.pk),
        ],
        acting_user=root,
    )
    sales.refresh_from_db()
    assert sales.name == "Sales EU"
    assert [s.name for s in sales.stages.all()] == ["Talking", "New", "Offer sent", "Won", "Lost"]
    deal.refresh_from_db()
    assert deal.stage_id == in_progress.pk and deal.stage.name == "Talking"
    assert sales.first_stage().name == "Talking"


def test_an_empty_stage_is_removed(root):
    sales = Pipeline.default()
    kept = [r for r in rows_of(sales) if r.name != "In progress"]
    pipelines.do_save_pipeline(sales, name="Sales", is_default=True, stages=kept, acting_user=root)
    assert [s.name for s in sales.stages.all()] == ["New", "Won", "Lost"]


def test_a_stage_holding_deals_is_not_removed_and_the_refusal_counts_them(root):
    sales = Pipeline.default()
    in_progress = sales.stages.get(name="In progress")
    DealFactory.create_batch(2, stage=in_progress)
    kept = [r for r in rows_of(sales) if r.name != "In progress"]
    with pytest.raises(ValidationError) as refused:
        pipelines.do_save_pipeline(
            sales, name="Renamed", is_default=True, stages=kept, acting_user=root
        )
    assert refused.value.messages == [
        "The stage “In progress” holds 2 deals: move them to another stage before removing it."
    ]
    sales.refresh_from_db()
    assert sales.name == "Sales" and sales.stages.filter(pk=in_progress.pk).exists()


def test_a_stage_holding_deals_keeps_whether_it_is_open_won_or_lost(root):
    sales = Pipeline.default()
    DealFactory(stage=sales.stages.get(name="In progress"))
    changed = [
        StageRow(r.name, "won" if r.name == "In progress" else r.semantics, r.stage_id)
        for r in rows_of(sales)
    ]
    with pytest.raises(ValidationError, match="holds 1 deal: move them .* making it won"):
        pipelines.do_save_pipeline(
            sales, name="Sales", is_default=True, stages=changed, acting_user=root
        )
    assert sales.stages.get(name="In progress").semantics == "open"


@pytest.mark.parametrize(
    ("name", "stages", "message"),
    [
        ("", [StageRow("A")], "needs a name"),
        ("P", [StageRow("Won", "won")], "at least one open stage"),
        ("P", [], "at least one open stage"),
        ("P", [StageRow("A"), StageRow("a ")], "listed twice"),
        ("P", [StageRow(" ")], "Every stage needs a name"),
        ("P", [StageRow("A", "maybe")], "open, won or lost"),
    ],
)
def test_a_pipeline_needs_a_name_an_open_stage_and_distinct_stage_names(
    root, name, stages, message
):
    with pytest.raises(ValidationError, match=message):
        pipelines.do_save_pipeline(None, name=name, stages=stages, acting_user=root)
    assert not Pipeline.objects.filter(name="P").exists()


def test_a_stage_of_another_pipeline_cannot_be_listed(root):
    sales = Pipeline.default()
    other = rentals(root)
    stolen = [*rows_of(other), StageRow("New", "open", sales.first_stage().pk)]
    with pytest.raises(ValidationError, match="another pipeline"):
        pipelines.do_save_pipeline(other, name="Rentals", stages=stolen, acting_user=root)
    assert sales.first_stage().pipeline_id == sales.pk


def test_making_a_pipeline_the_default_sends_new_deals_there(root):
    sales = Pipeline.default()
    other = rentals(root)
    pipelines.do_save_pipeline(
        other, name="Rentals", is_default=True, stages=rows_of(other), acting_user=root
    )
    assert Pipeline.default() == other
    assert list(Pipeline.objects.filter(is_default=True)) == [other]
    sales.refresh_from_db()
    assert not sales.is_default
    deal = actions.do_create_deal("From mail")
    assert (deal.pipeline, deal.stage.name) == (other, "Asked")


def test_the_default_pipeline_stays_the_default_until_another_is_made_it(root):
    sales = Pipeline.default()
    with pytest.raises(ValidationError, match="make another pipeline the default"):
        pipelines.do_save_pipeline(
            sales, name="Sales", is_default=False, stages=rows_of(sales), acting_user=root
        )
    sales.refresh_from_db()
    assert sales.is_default


def test_a_pipeline_with_deals_is_not_deleted(root):
    other = rentals(root)
    DealFactory(pipeline=other, stage=other.first_stage())
    assert pipelines.delete_blockers(other) == [
        "The pipeline “Rentals” has 1 deal: move them to another pipeline or delete them first."
    ]
    with pytest.raises(ValidationError, match="has 1 deal"):
        pipelines.do_delete_pipeline(other, acting_user=root)
    assert Pipeline.objects.filter(pk=other.pk).exists()


def test_the_last_pipeline_is_not_deleted(root):
    sales = Pipeline.default()
    Pipeline.objects.exclude(pk=sales.pk).delete()
    with pytest.raises(ValidationError, match="the only pipeline"):
        pipelines.do_delete_pipeline(sales, acting_user=root)
    assert Pipeline.objects.get() == sales


def test_a_pipeline_without_deals_is_deleted_with_its_stages(root):
    other = rentals(root)
    stage_ids = list(other.stages.values_list("pk", flat=True))
    assert pipelines.do_delete_pipeline(other, acting_user=root) is None
    assert not Pipeline.objects.filter(pk=other.pk).exists()
    assert not Stage.objects.filter(pk__in=stage_ids).exists()


def test_deleting_the_default_pipeline_makes_another_the_default(root):
    sales = Pipeline.default()
    other = rentals(root)
    successor = pipelines.do_delete_pipeline(sales, acting_user=root)
    assert successor == other
    other.refresh_from_db()
    assert other.is_default and Pipeline.default() == other
