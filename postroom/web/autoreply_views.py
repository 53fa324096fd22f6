"""A mailbox's auto-reply page, for its managers and administrators."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.autoreply import AutoReplyError, do_configure_auto_reply
from postroom.outbound.placeholders import NAMES
from postroom.routing.autoreply import settings_of
from postroom.routing.autoreply_models import AutoReply, AutoReplyLog
from postroom.routing.models import BusinessHours

from .access import get_mailbox_for_user


class AutoReplyForm(forms.Form):
    when = forms.ChoiceField(label="Answer by itself", choices=AutoReply.When.choices)
    calendar = forms.ModelChoiceField(
        label="Business hours",
        queryset=BusinessHours.objects.all(),
        required=False,
        help_text="Which calendar's hours and holidays count.",
    )
    subject = forms.CharField(
        label="Subject",
        max_length=300,
        required=False,
        help_text="Empty: “Re: ” and the customer's subject.",
    )
    body = forms.CharField(label="Text", widget=forms.Textarea(attrs={"rows": 8}), required=False)
    period_days = forms.IntegerField(
        label="At most once per sender in (days)",
        min_value=1,
        initial=4,
    )


@login_required
def mailbox_auto_reply(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)
    current = settings_of(mailbox)
    initial = {"when": "off", "period_days": 4}
    if current is not None:
        initial = {
            "when": current.when,
            "calendar": current.calendar,
            "subject": current.subject,
            "body": current.body,
            "period_days": current.period_days,
        }
    form = AutoReplyForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            do_configure_auto_reply(mailbox, acting_user=request.user, **form.cleaned_data)
        except AutoReplyError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, "Auto-reply saved.")
            return redirect("web:mailbox_auto_reply", mailbox.pk)
    recent = AutoReplyLog.objects.filter(mailbox=mailbox).order_by("-created_at", "-pk")[:20]
    context = {
        "mailbox": mailbox,
        "form": form,
        "placeholders": [f"{{{name}}}" for name in NAMES],
        "recent": recent,
    }
    return render(request, "web/routing/auto_reply.html", context)
