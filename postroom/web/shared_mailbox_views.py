"""A shared mailbox's pages: connecting one (administrators), its settings (name and
sync, CRM rule, Sent) and who may use it (grants to people and departments), for its
managers.

A personal mailbox has its owner's page (personal_views.my_mailbox) instead.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from postroom.crm.actions import CrmError, do_configure_mailbox_crm
from postroom.mailboxes import limits
from postroom.mailboxes.actions import (
    MailboxError,
    do_add_mailbox,
    do_request_sync,
    do_revoke_grant,
    do_set_grant,
    do_update_mailbox_settings,
)
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.mailboxes.smtp_login import SmtpSettingsError, do_save_smtp
from postroom.outbound.actions import do_set_save_to_sent
from postroom.tracking.switches import do_set_mailbox_tracking

from .access import get_mailbox_for_user
from .connecting import change_smtp, connect_ingress_only, initial_from, start
from .forms_mailbox import GrantForm, MailboxSettingsForm, SharedConnectForm


@sensitive_post_parameters("password", "smtp_password")
@login_required
def connect_shared_mailbox(request):
    if not request.user.is_superuser:
        raise PermissionDenied("Only an administrator may connect a shared mailbox.")
    form = SharedConnectForm(request.POST or None, initial=initial_from(request))
    if request.method == "POST" and form.is_valid():
        conn, data = form.connection(), form.cleaned_data
        options = {"crm_rule": data["crm_rule"], "initial_days": data["initial_days"]}
        try:
            # Logged in to by a job (IMAP, SMTP or both): to the check's page.
            if conn.imap_host or conn.smtp_host:
                return start(request, conn, kind=Mailbox.Kind.SHARED, options=options)
            mailbox = connect_ingress_only(
                request, conn, lambda: do_add_mailbox(conn, kind=Mailbox.Kind.SHARED, **options)
            )
        except MailboxError as exc:
            form.add_error(None, str(exc))
        else:
            messages.info(request, "Now choose who may use it.")
            return redirect("web:mailbox_access", mailbox.pk)
    # The limit said before the form is filled in, not after (the save refuses too).
    context = {"form": form, "limit_reached": limits.shared_refusal()}
    return render(request, "web/mailbox_connect.html", context)


@sensitive_post_parameters("smtp_password")
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
                do_set_mailbox_tracking(mailbox, form.cleaned_data["track_emails"])
                smtp = form.smtp_settings()
                if form.smtp_changed(mailbox) and not smtp.host:  # no server: nothing to check
                    do_save_smtp(mailbox, smtp, acting_user=request.user)
        except (MailboxError, CrmError, SmtpSettingsError) as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            if smtp.host and form.smtp_changed(mailbox):
                # A changed server or login is saved once a job has logged in with it.
                try:
                    response = change_smtp(request, mailbox, smtp)
                except MailboxError as exc:
                    messages.error(request, f"SMTP settings not saved: {exc}")
                else:
                    messages.info(request, f"Other settings of {mailbox.address} saved.")
                    return response
            else:
                messages.success(request, f"Settings of {mailbox.address} saved.")
            return redirect("web:mailbox_settings", mailbox.pk)
    return render(request, "web/mailbox_settings.html", {"mailbox": mailbox, "form": form})


@login_required
def mailbox_access(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)
    if mailbox.kind == Mailbox.Kind.PERSONAL:
        return redirect("web:my_mailbox", mailbox.pk)
    form = GrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        level = form.cleaned_data["level"]
        try:
            grant = do_set_grant(mailbox, level=level, acting_user=request.user, **form.grantee())
        except MailboxError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            who = grant.user or grant.group
            messages.success(request, f"{who}: {grant.get_level_display().lower()} access.")
            return redirect("web:mailbox_access", mailbox.pk)
    grants = mailbox.grants.select_related("user", "group__department").order_by(
        "-level", "group__name", "user__username"
    )
    context = {"mailbox": mailbox, "form": form, "grants": grants}
    return render(request, "web/mailbox_access.html", context)


@login_required
@require_POST
def revoke_grant(request, mailbox_id: int, grant_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)
    grant = get_object_or_404(mailbox.grants.select_related("user", "group"), pk=grant_id)
    try:
        do_revoke_grant(grant, acting_user=request.user)
    except MailboxError as exc:
        messages.error(request, f"Not removed: {exc}")
    else:
        messages.success(request, f"{grant.user or grant.group} no longer has access.")
    return redirect("web:mailbox_access", mailbox.pk)


@login_required
@require_POST
def sync_now(request, mailbox_id: int):
    """Anyone who reads a mailbox may have it checked now (mail usually arrives by push
    within a second; this is for a server without it, or a doubt)."""
    mailbox = get_mailbox_for_user(request.user, mailbox_id)
    if mailbox.has_imap and do_request_sync(mailbox):
        messages.success(request, f"Checking {mailbox.address} for new mail now.")
    return redirect("web:mailbox", mailbox.pk)
