from django import forms

from .events import choices


class SubscriptionForm(forms.Form):
    url = forms.CharField(
        label="URL",
        max_length=2000,
        widget=forms.URLInput(attrs={"placeholder": "https://erp.example.com/hooks/postroom"}),
        help_text="Postroom POSTs each event here, signed (see README, Webhooks).",
    )
    events = forms.MultipleChoiceField(
        choices=choices, widget=forms.CheckboxSelectMultiple, label="Events"
    )
    description = forms.CharField(max_length=200, required=False, label="Description")


class EditSubscriptionForm(SubscriptionForm):
    is_active = forms.BooleanField(required=False, label="On (deliver events)")
