"""Forms of the pipeline editor: the pipeline, and its stages as rows of a formset.

They validate input and hand clean values to postroom.crm.pipelines, which decides
what may change (a stage holding deals is not removed, and so on).
"""

from django import forms

from postroom.crm.models import Pipeline, Stage
from postroom.crm.pipelines import StageRow

# Blank rows under the stages, for adding some at once.
EXTRA_ROWS = 3


class PipelineForm(forms.Form):
    name = forms.CharField(max_length=200)
    is_default = forms.BooleanField(
        label="Default pipeline",
        required=False,
        help_text="New deals, and deals made from new mail, go to the default pipeline.",
    )

    @classmethod
    def initial_for(cls, pipeline: Pipeline | None) -> dict:
        if pipeline is None:
            return {"is_default": not Pipeline.objects.exists()}
        return {"name": pipeline.name, "is_default": pipeline.is_default}


class StageRowForm(forms.Form):
    stage_id = forms.IntegerField(required=False, widget=forms.HiddenInput)
    name = forms.CharField(max_length=200, required=False)
    semantics = forms.ChoiceField(
        choices=Stage.Semantics.choices, initial=Stage.Semantics.OPEN, label="Kind"
    )
    order = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)
    remove = forms.BooleanField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("stage_id") and not (data.get("name") or "").strip() and not data["remove"]:
            self.add_error("name", "A stage needs a name (or tick Remove).")
        return data


class BaseStageFormSet(forms.BaseFormSet):
    def rows(self) -> list[StageRow]:
        """The stages to keep or add, in their new order: by the order numbers given,
        rows without one after the others, in the order listed."""
        listed = []
        for index, form in enumerate(self.forms):
            data = form.cleaned_data
            if not data or data.get("remove"):
                continue
            name = (data.get("name") or "").strip()
            if not name and not data.get("stage_id"):
                continue  # a blank row left for adding
            order = data.get("order")
            listed.append(((order is None, order or 0, index), data, name))
        listed.sort(key=lambda entry: entry[0])
        return [
            StageRow(name=name, semantics=data["semantics"], stage_id=data.get("stage_id"))
            for _, data, name in listed
        ]


StageFormSet = forms.formset_factory(
    StageRowForm, formset=BaseStageFormSet, extra=EXTRA_ROWS, max_num=200, validate_max=True
)


def stage_initial(pipeline: Pipeline | None) -> list[dict]:
    """The rows of a pipeline's stages; a new pipeline starts with the usual four."""
    if pipeline is None:
        stages = [(None, name, semantics) for name, semantics in Pipeline.DEFAULT_STAGES]
    else:
        stages = [(s.pk, s.name, s.semantics) for s in pipeline.stages.all()]
    return [
        {"stage_id": pk, "name": name, "semantics": semantics, "order": (i + 1) * 10}
        for i, (pk, name, semantics) in enumerate(stages)
    ]
