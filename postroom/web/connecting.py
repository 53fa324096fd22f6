"""Connecting a mailbox from a page, the same for a shared and a personal one.

Posting the form starts a check (postroom.sync.connecting): a job logs in, saves the
mailbox only if the server accepted the login and reads its folders, while the check's
page polls its status, so no web worker waits for an IMAP server. A mailbox without an
IMAP server (fed by the ingress) needs no check and is saved at once.
"""

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from postroom.mailboxes.actions import ConnectionSettings, MailboxError
from postroom.mailboxes.models import ConnectionCheck, Mailbox
from postroom.mailboxes.smtp_login import SmtpSettings
from postroom.sync.connecting import (
    give_up_if_stale,
    is_password_check,
    is_smtp_check,
    start_check,
    start_password_check,
    start_smtp_check,
)


def start(request, conn: ConnectionSettings, *, kind: str, options: dict) -> HttpResponse:
    """Check `conn` off the request thread: to the check's page. MailboxError says why
    not at once (an address connected already, a server the administrator does not
    allow)."""
    check = start_check(conn, kind=kind, requested_by=request.user, options=options)
    return redirect("web:connection_check", check.pk)


def change_password(request, mailbox: Mailbox, password: str) -> HttpResponse:
    """Check a saved mailbox's new password off the request thread: to the check's page,
    which saves it once the server accepted it. MailboxError says why not at once."""
    check = start_password_check(mailbox, password, requested_by=request.user)
    return redirect("web:connection_check", check.pk)


def change_smtp(request, mailbox: Mailbox, choice: SmtpSettings) -> HttpResponse:
    """Check a saved mailbox's new SMTP settings off the request thread: to the check's
    page, which saves them once the server accepted the login. MailboxError: not now."""
    check = start_smtp_check(mailbox, choice, requested_by=request.user)
    return redirect("web:connection_check", check.pk)


def connect_ingress_only(request, conn: ConnectionSettings, save: Callable[[], Mailbox]) -> Mailbox:
    """Save a mailbox that has no IMAP server to log in to; MailboxError says why not."""
    if Mailbox.objects.filter(address__iexact=conn.address).exists():
        raise MailboxError(f"{conn.address} is already connected")
    mailbox = save()
    messages.success(request, f"Connected {mailbox.address}, fed by the ingress.")
    return mailbox


def initial_from(request: HttpRequest) -> dict:
    """The form's values of the user's check named by ?again= (never the password)."""
    value = request.GET.get("again", "")
    if not value.isdigit():
        return {}
    check = ConnectionCheck.objects.filter(pk=value, requested_by=request.user).first()
    return {**check.connection, **check.options} if check else {}


def _get_check_for_user(user, check_id: int) -> ConnectionCheck:
    """The user's own check; anyone else's is not there (404)."""
    check = get_object_or_404(ConnectionCheck, pk=check_id, requested_by=user)
    give_up_if_stale(check)
    return check


def _form_url(check: ConnectionCheck) -> str:
    if is_smtp_check(check):
        return reverse("web:mailbox_settings", args=[check.mailbox_id])
    if is_password_check(check):
        return reverse("web:mailbox_password", args=[check.mailbox_id])
    name = (
        "web:connect_mailbox"
        if check.kind == Mailbox.Kind.PERSONAL
        else "web:connect_shared_mailbox"
    )
    return f"{reverse(name)}?again={check.pk}"


@login_required
@require_GET
def connection_check(request, check_id: int) -> HttpResponse:
    """The check's page: progress while it runs (its script polls the status), the
    reason when it failed, and on to the mailbox once connected."""
    check = _get_check_for_user(request.user, check_id)
    password = is_password_check(check)
    smtp = is_smtp_check(check)
    if check.status == ConnectionCheck.Status.CONNECTED and check.mailbox_id:
        messages.success(request, check.outcome)
        if smtp:
            return redirect("web:mailbox_settings", check.mailbox_id)
        if check.kind == Mailbox.Kind.PERSONAL:
            return redirect("web:my_mailbox", check.mailbox_id)
        if password:
            return redirect("web:mailbox", check.mailbox_id)
        messages.info(request, "Now choose who may use it.")
        return redirect("web:mailbox_access", check.mailbox_id)
    address = check.connection.get("address", "")
    heading = f"New password of {address}" if password else f"Connecting {address}"
    context = {
        "check": check,
        "heading": f"SMTP settings of {address}" if smtp else heading,
        "again": None if (password or smtp) and not check.mailbox_id else _form_url(check),
        # What a failure's sentence follows: a saved mailbox's SMTP settings are not
        # saved, but the mailbox stays connected.
        "failed": "" if smtp else "Not connected. ",
    }
    return render(request, "web/connection_check.html", context)


@login_required
@require_GET
def connection_check_status(request, check_id: int) -> JsonResponse:
    """What the check's page polls: its status and, once over, what to say."""
    check = _get_check_for_user(request.user, check_id)
    response = JsonResponse({"status": check.status, "outcome": check.outcome})
    response["Cache-Control"] = "no-store"
    return response
