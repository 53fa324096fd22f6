"""The organisation's CRM settings page (administrators only): its internal domains,
whether hand-made contacts join the company of their mail domain, and which shared
mailbox's CRM rule decides for an email several of them hold. The rules live in
postroom.crm.organisation."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render

from postroom.crm import organisation
from postroom.crm.access import check_admin

from .crm_views import crm_view

WHAT = "change the organisation's CRM settings"


class CrmSettingsForm(forms.Form):
    internal_domains = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=(
            "The organisation's own mail domains, one per line (acme.com): mail from them "
            "is a colleague's and never becomes a lead, even from someone without an account."
        ),
    )
    join_company_by_domain = forms.BooleanField(
        required=False,
        label="Contacts join the company of their mail domain",
        help_text=(
            "A contact created or edited by hand without a company joins the company whose "
            "domain its address is at. Off: the contact's page offers that company instead."
        ),
    )

    def __init__(self, *args, mailboxes, **kwargs):
        super().__init__(*args, **kwargs)
        self.mailboxes = mailboxes
        for mailbox in mailboxes:
            self.fields[f"precedence_{mailbox.pk}"] = forms.IntegerField(
                min_value=0,
                max_value=10_000,
                initial=mailbox.crm_precedence,
                label=mailbox.address,
                widget=forms.NumberInput(attrs={"class": "precedence"}),
            )

    def clean_internal_domains(self) -> list[str]:
        lines = (self.cleaned_data["internal_domains"] or "").replace(",", "\n").splitlines()
        return organisation.clean_domains(lines)

    def precedence(self) -> dict[int, int]:
        return {m.pk: self.cleaned_data[f"precedence_{m.pk}"] for m in self.mailboxes}

    def precedence_rows(self):
        return [(mailbox, self[f"precedence_{mailbox.pk}"]) for mailbox in self.mailboxes]


@crm_view
def crm_settings(request):
    check_admin(request.user, WHAT)
    current = organisation.current()
    mailboxes = organisation.shared_by_precedence()
    initial = {
        "internal_domains": "\n".join(sorted(current.internal_domains)),
        "join_company_by_domain": current.join_company_by_domain,
    }
    form = CrmSettingsForm(request.POST or None, initial=initial, mailboxes=mailboxes)
    if request.method == "POST" and form.is_valid():
        try:
            organisation.do_save_settings(
                acting_user=request.user,
                internal_domains=form.cleaned_data["internal_domains"],
                join_company_by_domain=form.cleaned_data["join_company_by_domain"],
                precedence=form.precedence(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Saved the CRM settings.")
            return redirect("web:crm_settings")
    listed = set(current.internal_domains)
    missing = [d for d in organisation.mailbox_domains() if d not in listed]
    return render(
        request,
        "crm/settings.html",
        {
            "form": form,
            "saved": current.saved,
            "missing_mailbox_domains": missing,
            "configured": organisation.configured_domains(),
        },
    )
