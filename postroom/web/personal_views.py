"""An employee's own things: their profile with the BCC tracker, their personal mailboxes.

Any logged-in user may connect a personal mailbox; it is theirs alone to see, change and
disconnect. The connect flow is the one of `postroom mailbox add`: log in first, save
only when that worked (mailboxes.personal), then read the folders and their roles, but
in a job that the page polls (web.connecting). A new password is checked the same way
before it is saved; that page serves shared mailboxes too, for their managers.
"""

from __future__ import annotations

import logging

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from postroom import pipeline
from postroom.crm.models import Activity
from postroom.mailboxes import limits, personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import MailboxError
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.tracking import switches as tracking_switches
from postroom.twofactor.actions import has_second_factor

from .connecting import change_password, initial_from, start
from .forms_mailbox import ImapServerForm, show_window_limit

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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        show_window_limit(self)

    def choices(self) -> personal.PersonalSettings:
        return personal.PersonalSettings(
            initial_days=self.cleaned_data["initial_days"],
            unknown_people=self.cleaned_data["unknown_people"],
        )


class ConnectForm(PersonalSettingsForm, ImapServerForm):
    field_order = ["address", "name", "imap_host", "imap_port", "imap_security"]


class PasswordForm(forms.Form):
    password = forms.CharField(label="New password", widget=forms.PasswordInput, strip=False)


@login_required
def profile(request):
    tracker = personal.tracker_for(request.user)
    context = {
        "tracker": tracker,
        "tracker_address": personal.tracker_address_of(tracker),
        "has_second_factor": has_second_factor(request.user),
        "tracks_emails": tracking_switches.user_tracks(request.user.pk),
    }
    return render(request, "personal/profile.html", context)


@login_required
@require_POST
def email_tracking(request):
    """The user's switch for tracking opens and clicks of the emails they send."""
    tracking_switches.do_set_user_tracking(request.user, bool(request.POST.get("track")))
    messages.success(request, "Saved: your choice on tracking the emails you send.")
    return redirect("web:profile")


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


@sensitive_post_parameters("password")
@login_required
def connect_mailbox(request):
    form = ConnectForm(request.POST or None, initial=initial_from(request))
    if request.method == "POST" and form.is_valid():
        conn, choices = form.connection(), form.choices()
        try:
            choices.check()
            options = {
                "initial_days": choices.initial_days,
                "unknown_people": choices.unknown_people,
            }
            return start(request, conn, kind=Mailbox.Kind.PERSONAL, options=options)
        except MailboxError as exc:
            form.add_error(None, str(exc))
    # The limit said before the form is filled in, not after (the save refuses too).
    limit_reached = limits.personal_refusal(request.user)
    return render(request, "personal/connect.html", {"form": form, "limit_reached": limit_reached})


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
        try:
            personal.do_update_personal_settings(mailbox, form.choices())
        except MailboxError as exc:  # a limit the administrator set, say
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, "Saved.")
            return redirect("web:my_mailbox", mailbox.pk)
    folders = mailbox.folders.order_by("name")
    context = {"mailbox": mailbox, "form": form, "folders": folders}
    return render(request, "personal/mailbox_settings.html", context)


@login_required
def disconnect_mailbox(request, mailbox_id: int):
    """The owner's confirmation page (GET), then the disconnection (POST)."""
    mailbox = get_object_or_404(personal.personal_mailboxes(request.user), pk=mailbox_id)
    if request.method == "POST":
        try:
            done = personal.do_disconnect_personal_mailbox(mailbox, acting_user=request.user)
        except MailboxError as exc:
            messages.error(request, str(exc))
            return redirect("web:my_mailbox", mailbox.pk)
        pipeline.mailbox_disconnected(done.message_ids)
        messages.success(
            request,
            f"Disconnected {done.address}: it no longer syncs, and its emails are deleted "
            "from Postroom, except those on CRM timelines and in other mailboxes.",
        )
        return redirect("web:my_mailboxes")
    context = {
        "mailbox": mailbox,
        "conversations": mailbox.conversations.count(),
        # Emails of this mailbox that became CRM activities: they stay on the timelines.
        "activities": Activity.objects.filter(message__copies__mailbox=mailbox).distinct().count(),
    }
    return render(request, "personal/disconnect.html", context)


def _mailbox_with_password(user, mailbox_id: int) -> Mailbox:
    """A mailbox whose password the user may change: their own personal one, or a shared
    one they manage (mailboxes_for at the manage level lists both); 404 for one they may
    not read, 403 for one they only read."""
    readable = mailboxes_for(user).exclude(imap_host="")
    mailbox = get_object_or_404(readable, pk=mailbox_id)
    if not mailboxes_for(user, MailboxGrant.Level.MANAGE).filter(pk=mailbox.pk).exists():
        raise PermissionDenied(f"changing the password needs the manage right on {mailbox}")
    return mailbox


@sensitive_post_parameters("password")
@login_required
def mailbox_password(request, mailbox_id: int):
    mailbox = _mailbox_with_password(request.user, mailbox_id)
    form = PasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Logged in with by a job, and saved only if the server accepts it.
        try:
            return change_password(request, mailbox, form.cleaned_data["password"])
        except MailboxError as exc:
            form.add_error(None, str(exc))
    return render(request, "personal/password.html", {"mailbox": mailbox, "form": form})
