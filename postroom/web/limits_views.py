"""/limits/: the limits an administrator sets (postroom.mailboxes.limits), beside what
is used of each now; the refusals that meet people elsewhere link here."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render

from postroom.mailboxes import limits
from postroom.mailboxes.actions import MAX_INITIAL_DAYS
from postroom.mailboxes.models import Mailbox
from postroom.outbound import quota

from .retention_views import admin_only


def _limit(label: str, high: int, help_text: str, low: int = 0) -> forms.IntegerField:
    return forms.IntegerField(
        label=label,
        required=False,
        min_value=low,
        max_value=high,
        help_text=f"{help_text} Empty: unlimited.",
        widget=forms.NumberInput(attrs={"placeholder": "unlimited"}),
    )


class LimitsForm(forms.Form):
    personal_per_user = _limit(
        "Personal mailboxes per person",
        limits.MAX_MAILBOXES,
        "Connected personal mailboxes each person may have (the BCC tracker is not one).",
    )
    shared_mailboxes = _limit(
        "Shared mailboxes", limits.MAX_MAILBOXES, "Shared mailboxes in the organisation."
    )
    initial_days_max = _limit(
        "Initial fetch window, at most (days)",
        MAX_INITIAL_DAYS,
        "How far back a mailbox may be read when it is connected or its window widened.",
        low=1,
    )
    monthly_outgoing = _limit(
        "Emails sent per month",
        limits.MAX_QUOTA,
        "New emails are refused once the month's sent and waiting ones reach it; "
        "emails already queued and auto-replies wait for the next month.",
    )

    def limits(self) -> limits.Limits:
        return limits.Limits(**self.cleaned_data)


@admin_only
def limits_page(request):
    row = limits.current()
    initial = {name: getattr(row, name) for name in LimitsForm.base_fields}
    form = LimitsForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            limits.do_set_limits(form.limits(), acting_user=request.user)
        except limits.LimitError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Limits saved.")
            return redirect("web:limits")
    most_personal = (
        Mailbox.objects.filter(
            kind=Mailbox.Kind.PERSONAL, tracker__isnull=True, owner__isnull=False
        )
        .values("owner")
        .annotate(n=Count("pk"))
        .order_by("-n")
        .values_list("n", flat=True)
        .first()
    )
    context = {
        "form": form,
        "row": row,
        "shared_count": limits.shared_count(),
        "most_personal": most_personal or 0,
        "usage": quota.usage(),
        "section": "limits",
    }
    return render(request, "retention/limits.html", context)
