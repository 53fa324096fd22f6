"""A mailbox's reply deadlines (SLA) page: its policy and its rules' own, for its
managers and administrators. Thin: routing/sla.py checks and saves."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from postroom.mail.workflow import people_for
from postroom.mailboxes.models import MailboxGrant
from postroom.routing import sla
from postroom.routing.models import BusinessHours, SlaPolicy

from .access import get_mailbox_for_user

MANAGE = MailboxGrant.Level.MANAGE
MAILBOX = "mailbox"


class PolicyForm(forms.Form):
    target = forms.ChoiceField(label="For")
    first_reply_minutes = forms.IntegerField(label="First reply within (minutes)", initial=120)
    next_reply_minutes = forms.IntegerField(label="Next replies within (minutes)", initial=480)
    calendar = forms.ModelChoiceField(
        BusinessHours.objects.all(), required=False, empty_label="Round the clock",
        label="Counted in the working hours of",
    )  # fmt: skip
    grace_minutes = forms.IntegerField(
        label="Then tell the supervisor after (working minutes)", initial=60, min_value=0
    )
    supervisor = forms.ModelChoiceField(
        None, required=False, empty_label="The mailbox's managers", label="Supervisor"
    )

    def __init__(self, *args, mailbox, **kwargs):
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        self.fields["target"].choices = [(MAILBOX, "The whole mailbox")] + [
            (str(rule.pk), f"Rule: {rule}") for rule in mailbox.distribution_rules.all()
        ]
        self.fields["supervisor"].queryset = people_for(mailbox)

    def rule(self):
        target = self.cleaned_data["target"]
        return None if target == MAILBOX else self.mailbox.distribution_rules.get(pk=int(target))


@login_required
def mailbox_deadlines(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MANAGE)
    form = PolicyForm(request.POST or None, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sla.do_set_policy(
                mailbox, rule=form.rule(), first_reply_minutes=data["first_reply_minutes"],
                next_reply_minutes=data["next_reply_minutes"], grace_minutes=data["grace_minutes"],
                calendar=data["calendar"], supervisor=data["supervisor"], acting_user=request.user,
            )  # fmt: skip
        except sla.SlaError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, "Reply deadline saved.")
            return redirect("web:mailbox_deadlines", mailbox.pk)
    policies = SlaPolicy.objects.filter(mailbox=mailbox).select_related(
        "rule", "calendar", "supervisor"
    )
    context = {
        "mailbox": mailbox,
        "form": form,
        "policies": sorted(policies, key=lambda p: (p.rule_id is not None, p.rule_id or 0)),
        "in_words": sla.in_words,
    }
    return render(request, "web/routing/deadlines.html", context)


@login_required
@require_POST
def mailbox_deadline_remove(request, mailbox_id: int, policy_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MANAGE)
    SlaPolicy.objects.filter(pk=policy_id, mailbox=mailbox).delete()
    messages.success(request, "Reply deadline removed; running deadlines keep theirs.")
    return redirect("web:mailbox_deadlines", mailbox.pk)
