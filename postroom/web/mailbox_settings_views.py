"""A shared mailbox's settings page, for its managers: name and sync, CRM rule, Sent.

A personal mailbox has its owner's page (personal_views.my_mailbox) instead.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.shortcuts import redirect, render

from postroom.crm.actions import CrmError, do_configure_mailbox_crm
from postroom.mailboxes.actions import MailboxError, do_update_mailbox_settings
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.outbound.actions import do_set_save_to_sent

from .access import get_mailbox_for_user
from .forms_mailbox import MailboxSettingsForm


@login_required
def mailbox_settings(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        return redirect("web:my_mailbox", mailbox.pk)
    form = MailboxSettingsForm(request.POST or None, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():  # all of the page's settings, or none
                do_update_mailbox_settings(
                    mailbox, form.sync_settings(mailbox), acting_user=request.user
                )
                do_configure_mailbox_crm(mailbox, **form.crm_settings())
                if "save_to_sent" in form.fields:
                    do_set_save_to_sent(mailbox, form.cleaned_data["save_to_sent"])
        except (MailboxError, CrmError) as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, f"Settings of {mailbox.address} saved.")
            return redirect("web:mailbox_settings", mailbox.pk)
    return render(request, "web/mailbox_settings.html", {"mailbox": mailbox, "form": form})
