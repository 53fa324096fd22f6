"""Forms of the CRM UI: they validate input and hand clean values to postroom.crm.editing."""

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.text import slugify

from postroom.accounts.people import active_people
from postroom.crm.access import items_for
from postroom.crm.editing import FieldSpec, StageSpec, clean_domains, clean_emails
from postroom.crm.models import (
    Company,
    Contact,
    Deal,
    Lead,
    Pipeline,
    SmartField,
    SmartItem,
    SmartType,
    Stage,
)

from .quick_select import QuickSelect

# A select lists at most this many items: with 50,000 contacts a full list would be a
# megabyte of HTML. Validation still accepts any item the user may read.
SELECT_LIMIT = 300


def _users() -> QuerySet:
    return active_people()


class SearchableSelect(forms.Select):
    """A select that web/crm-picker.js makes searchable (the JSON item search, readable
    items only); without script it lists the first SELECT_LIMIT by name."""

    template_name = "crm/save_picker_select.html"

    def __init__(self, kind: str, attrs=None):
        super().__init__(attrs)
        self.kind = kind

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        search = reverse("web:crm_item_search") + f"?kind={self.kind}"
        context["widget"]["attrs"]["data-item-search"] = search
        return context


def _limit_select(field: forms.ModelChoiceField, current=None) -> None:
    """Render only the first SELECT_LIMIT choices (plus the current one)."""
    shown = list(field.queryset[:SELECT_LIMIT])
    if current is not None and current not in shown:
        shown.insert(0, current)
    field.widget.choices = [("", "—")] + [(obj.pk, str(obj)) for obj in shown]


def _lines(value: str) -> list[str]:
    return [line.strip() for line in (value or "").replace(",", "\n").splitlines() if line.strip()]


class ResponsibleMixin:
    def _setup_responsible(self) -> None:
        field = self.fields["responsible"]
        field.queryset = _users()
        field.required = False


class LeadForm(ResponsibleMixin, forms.ModelForm):
    class Meta:
        model = Lead
        fields = ["title", "name", "email", "phone", "company_name", "status", "responsible"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_responsible()
        self.fields["email"].widget = forms.EmailInput()

    def clean_email(self) -> str:
        return (clean_emails([self.cleaned_data["email"]]) or [""])[0]


class RelatedItemsMixin:
    """Contact and company pickers: items the user may read."""

    def _setup_related(self, user, names=("contact", "company")) -> None:
        models = {"contact": Contact, "company": Company}
        for name in names:
            field = self.fields[name]
            field.queryset = items_for(user, models[name]).order_by("name")
            field.required = False
            field.widget = SearchableSelect(name)
            current = getattr(self.instance, name, None) if self.instance.pk else None
            initial = self.initial.get(name)
            if current is None and initial is not None:
                current = field.queryset.filter(pk=getattr(initial, "pk", initial)).first()
            _limit_select(field, current)


class ContactForm(ResponsibleMixin, RelatedItemsMixin, forms.ModelForm):
    emails = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line; the first is the primary email.",
    )
    phones = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="One per line."
    )

    class Meta:
        model = Contact
        fields = ["name", "company", "responsible"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_responsible()
        self._setup_related(user, ("company",))
        if self.instance.pk and not self.is_bound:
            emails = sorted(self.instance.emails.all(), key=lambda e: (not e.is_primary, e.pk))
            self.initial["emails"] = "\n".join(e.email for e in emails)
            self.initial["phones"] = "\n".join(p.phone for p in self.instance.phones.all())

    def clean_emails(self) -> list[str]:
        return clean_emails(_lines(self.cleaned_data["emails"]))

    def clean_phones(self) -> list[str]:
        return [line for line in (self.cleaned_data["phones"] or "").splitlines() if line.strip()]

    def clean(self):
        data = super().clean()
        if not data.get("name") and not data.get("emails"):
            raise ValidationError("A contact needs a name or an email.")
        return data


class CompanyForm(ResponsibleMixin, forms.ModelForm):
    domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=(
            "Mail domains, one per line (customer.test): new people writing from them "
            "join the company."
        ),
    )

    class Meta:
        model = Company
        fields = ["name", "responsible"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_responsible()
        if self.instance.pk and not self.is_bound:
            self.initial["domains"] = "\n".join(d.domain for d in self.instance.domains.all())

    def clean_domains(self) -> list[str]:
        return clean_domains(
            _lines(self.cleaned_data["domains"]), self.instance if self.instance.pk else None
        )


class DealForm(ResponsibleMixin, RelatedItemsMixin, forms.ModelForm):
    class Meta:
        model = Deal
        fields = ["title", "pipeline", "stage", "amount", "contact", "company", "responsible"]

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self._setup_responsible()
        self._setup_related(user)
        # Every pipeline's stages, pipeline by pipeline (the pipeline editor's order).
        self.fields["stage"].queryset = (
            Stage.objects.filter(pipeline__isnull=False)
            .select_related("pipeline")
            .order_by("pipeline__sort", "pipeline_id", "sort", "pk")
        )
        self.fields["stage"].label_from_instance = lambda s: f"{s.pipeline.name}: {s.name}"
        self.fields["stage"].required = False
        self.fields["stage"].help_text = "Empty: the pipeline's first stage."
        if not self.instance.pk and not self.is_bound and "pipeline" not in self.initial:
            # default() makes "Sales" again if every pipeline was deleted: a new deal
            # always has somewhere to go.
            self.initial["pipeline"] = Pipeline.default()

    def clean(self):
        data = super().clean()
        pipeline, stage = data.get("pipeline"), data.get("stage")
        if pipeline and stage is None:
            data["stage"] = pipeline.first_stage()
        elif pipeline and stage.pipeline_id != pipeline.pk:
            self.add_error("stage", f"“{stage.name}” is a stage of {stage.pipeline.name}.")
        return data


class SmartItemForm(ResponsibleMixin, RelatedItemsMixin, forms.ModelForm):
    """A smart item with its type's fields, built from the SmartField definitions."""

    class Meta:
        model = SmartItem
        fields = ["title", "stage", "contact", "company", "responsible"]

    def __init__(self, *args, user, smart_type: SmartType, **kwargs):
        super().__init__(*args, **kwargs)
        self.smart_type = smart_type
        self._setup_responsible()
        self._setup_related(user)
        self.fields["stage"].queryset = smart_type.stages.all()
        self.fields["stage"].required = False
        self.fields["stage"].help_text = "Empty: the first stage."
        self.smart_fields = list(smart_type.fields.all())
        for field in self.smart_fields:
            name = self.field_name(field)
            self.fields[name] = self._form_field(field)
            if self.instance.pk and not self.is_bound:
                self.initial[name] = self.instance.data.get(field.key)

    @staticmethod
    def field_name(field: SmartField) -> str:
        return f"data_{field.key}"

    @staticmethod
    def _form_field(field: SmartField) -> forms.Field:
        common = {"label": field.name, "required": False}
        if field.kind == SmartField.Kind.NUMBER:
            return forms.DecimalField(max_digits=20, decimal_places=6, **common)
        if field.kind == SmartField.Kind.DATE:
            return forms.DateField(widget=forms.DateInput(attrs={"type": "date"}), **common)
        if field.kind == SmartField.Kind.CHOICE:
            choices = [("", "—")] + [(c, c) for c in field.choices]
            return forms.ChoiceField(choices=choices, **common)
        return forms.CharField(max_length=2000, **common)

    def clean(self):
        data = super().clean()
        if data.get("stage") is None:
            data["stage"] = self.smart_type.first_stage()
        return data

    def data_values(self) -> dict:
        return {f.key: self.cleaned_data.get(self.field_name(f)) for f in self.smart_fields}

    def smart_bound_fields(self):
        return [self[self.field_name(f)] for f in self.smart_fields]

    def standard_bound_fields(self):
        names = {self.field_name(f) for f in self.smart_fields}
        return [bf for bf in self if bf.name not in names]


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), max_length=20_000)


class TaskForm(forms.Form):
    title = forms.CharField(max_length=500)
    # QuickSelect: the people in one plain query, not a server-side cursor (every item
    # page shows this form).
    responsible = forms.ModelChoiceField(queryset=_users(), required=False, widget=QuickSelect)
    deadline = forms.DateTimeField(
        required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["responsible"].queryset = _users()


class StageForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.none())

    def __init__(self, *args, stages: QuerySet, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = stages


_SEMANTICS = {s.value: s.value for s in Stage.Semantics} | {
    s.label.lower(): s.value for s in Stage.Semantics
}
_KINDS = {k.value: k.value for k in SmartField.Kind} | {
    k.label.lower(): k.value for k in SmartField.Kind
}


class SmartTypeForm(forms.Form):
    """A smart type's stages and fields as simple lines, parsed into specs."""

    name = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=100, required=False, help_text="What a mailbox's rule names: smart:<slug>."
    )
    stages = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One stage per line, in order; add “: won” or “: lost” for closing stages.",
    )
    field_specs = forms.CharField(
        label="Fields",
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=(
            "One field per line: “Name | kind | choice, choice”; "
            "kind is text, number, date or choice."
        ),
    )

    @classmethod
    def initial_for(cls, smart_type: SmartType) -> dict:
        stages = [
            s.name if s.is_open else f"{s.name}: {s.semantics}" for s in smart_type.stages.all()
        ]
        fields = []
        for f in smart_type.fields.all():
            line = f"{f.name} | {f.kind}"
            if f.kind == SmartField.Kind.CHOICE:
                line += " | " + ", ".join(f.choices)
            fields.append(line)
        return {
            "name": smart_type.name,
            "slug": smart_type.slug,
            "stages": "\n".join(stages),
            "field_specs": "\n".join(fields),
        }

    def clean_slug(self) -> str:
        return self.cleaned_data["slug"] or slugify(self.cleaned_data.get("name", ""))

    def clean_stages(self) -> list[StageSpec]:
        specs = []
        for line in self.cleaned_data["stages"].splitlines():
            name, _, semantics = line.strip().partition(":")
            name, semantics = name.strip(), semantics.strip().lower() or "open"
            if not name:
                continue
            if semantics not in _SEMANTICS:
                raise ValidationError(f"“{line.strip()}”: a stage is open, won or lost.")
            if any(s.name.lower() == name.lower() for s in specs):
                raise ValidationError(f"The stage “{name}” is listed twice.")
            specs.append(StageSpec(name=name, semantics=_SEMANTICS[semantics]))
        if not any(s.semantics == Stage.Semantics.OPEN for s in specs):
            raise ValidationError("List at least one open stage.")
        return specs

    def clean_field_specs(self) -> list[FieldSpec]:
        specs = []
        for line in (self.cleaned_data["field_specs"] or "").splitlines():
            if not line.strip():
                continue
            parts = [p.strip() for p in line.split("|")]
            name, kind = parts[0], (parts[1].lower() if len(parts) > 1 else "text")
            key = slugify(name).replace("-", "_")
            if not key or kind not in _KINDS:
                raise ValidationError(
                    f"“{line.strip()}”: write “Name | kind”, "
                    "kind one of text, number, date, choice."
                )
            choices = (
                tuple(c.strip() for c in parts[2].split(",") if c.strip()) if len(parts) > 2 else ()
            )
            if _KINDS[kind] == SmartField.Kind.CHOICE and not choices:
                raise ValidationError(
                    f"“{name}”: a choice field lists its choices after a second |."
                )
            if any(s.key == key for s in specs):
                raise ValidationError(f"The field “{name}” is listed twice.")
            specs.append(FieldSpec(name=name, key=key, kind=_KINDS[kind], choices=choices))
        return specs
