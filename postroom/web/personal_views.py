"""An employee's own things: their profile with the BCC tracker, their personal mailboxes.

Any logged-in user may connect a personal mailbox; it is theirs alone to see. The
connect flow is the one of `postroom mailbox add`: log in first (sync.imap), save only
when that worked (mailboxes.personal), then read the folders and their roles.
"""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom.mailboxes import personal
from postroom.mailboxes.actions import ConnectionSettings, MailboxError
from postroom.mailboxes.models import Mailbox, Security
from postroom.sync import imap
from postroom.sync.service import discover_folders

logger = logging.getLogger(__name__)


class PersonalSettingsForm(forms.Form):
    initial_days = forms.IntegerField(
        label="Days back to scan",
        min_value=1,
        max_value=personal.MAX_INITIAL_DAYS,
        initial=30,
        help_text="Inbox and Sent of this many days are read when the mailbox is connected.",
    )
    unknown_people = forms.ChoiceField(
        label="Mail with people unknown to the CRM",
        choices=personal.UNKNOWN_PEOPLE_CHOICES,
        initial="ignore",
        help_text="Mail with known contacts always goes to their CRM items.",
    )

    def choices(self) -> personal.PersonalSettings:
        return personal.PersonalSettings(
            initial_days=self.cleaned_data["initial_days"],
            unknown_people=self.cleaned_data["unknown_people"],
        )


class ConnectForm(PersonalSettingsForm):
    field_order = ["address", "name", "imap_host", "imap_port", "imap_security"]

    address = forms.EmailField(label="Email address")
    name = forms.CharField(label="Name", max_length=200, required=False)
    imap_host = forms.CharField(label="IMAP server", max_length=255)
    imap_port = forms.IntegerField(label="Port", min_value=1, max_value=65535, initial=993)
    imap_security = forms.ChoiceField(
        label="Security", choices=Security.choices, initial=Security.SSL
    )
    allow_self_signed = forms.BooleanField(
        label="Accept a self-signed certificate (only for a server you control)",
        required=False,
    )
    username = forms.CharField(label="Username", max_length=255)
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)

    def connection(self) -> ConnectionSettings:
        data = self.cleaned_data
        return ConnectionSettings(
            address=data["address"],
            name=data["name"] or data["address"],
            imap_host=data["imap_host"].strip(),
            imap_port=data["imap_port"],
            imap_security=data["imap_security"],
            username=data["username"],
            password=data["password"],
            allow_self_signed=data["allow_self_signed"],
        )


def _connect(user, form: ConnectForm) -> Mailbox:
    """Log in, save, read the folders; MailboxError (nothing saved) says what is wrong."""
    conn, choices = form.connection(), form.choices()
    choices.check()
    if Mailbox.objects.filter(address__iexact=conn.address).exists():
        raise MailboxError(f"{conn.address} is already connected")
    server = imap.ServerAddress(
        conn.imap_host,
        conn.imap_port,
        conn.imap_security,
        conn.username,
        conn.password,
        allow_self_signed=conn.allow_self_signed,
    )
    try:
        imap.check_login(server, timeout=settings.POSTROOM["IMAP_TIMEOUT"])
    except imap.SyncError as exc:
        raise MailboxError(f"Not connected: {exc}") from exc
    return personal.do_add_personal_mailbox(user, conn, choices)


@login_required
def profile(request):
    tracker = personal.tracker_for(request.user)
    context = {"tracker": tracker, "tracker_address": personal.tracker_address_of(tracker)}
    return render(request, "personal/profile.html", context)


@login_required
@require_POST
def tracker_regenerate(request):
    personal.do_regenerate_tracker(request.user)
    messages.success(request, "A new tracker address: the old one no longer takes mail.")
    return redirect("web:profile")


@login_required
def my_mailboxes(request):
    mailboxes = personal.personal_mailboxes(request.user)
    return render(request, "personal/mailbox_list.html", {"mailboxes": mailboxes})


@login_required
def connect_mailbox(request):
    form = ConnectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mailbox = _connect(request.user, form)
        except MailboxError as exc:
            form.add_error(None, str(exc))
        else:
            try:
                folders = discover_folders(mailbox)
            except imap.SyncError as exc:
                messages.warning(request, f"Connected; reading its folders failed: {exc}")
            else:
                synced = ", ".join(f.name for f in folders if f.is_synced)
                messages.success(request, f"Connected {mailbox.address}: syncing {synced}.")
            return redirect("web:my_mailbox", mailbox.pk)
    return render(request, "personal/connect.html", {"form": form})


@login_required
def my_mailbox(request, mailbox_id: int):
    mailbox = get_object_or_404(personal.personal_mailboxes(request.user), pk=mailbox_id)
    form = PersonalSettingsForm(
        request.POST or None,
        initial={
            "initial_days": mailbox.initial_days,
            "unknown_people": personal.unknown_people_choice(mailbox),
        },
    )
    if request.method == "POST" and form.is_valid():
        personal.do_update_personal_settings(mailbox, form.choices())
        messages.success(request, "Saved.")
        return redirect("web:my_mailbox", mailbox.pk)
    folders = mailbox.folders.order_by("name")
    context = {"mailbox": mailbox, "form": form, "folders": folders}
    return render(request, "personal/mailbox_settings.html", context)
