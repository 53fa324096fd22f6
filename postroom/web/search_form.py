"""The search page's form: what a user may ask for, checked against what they may read."""

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone

from postroom.accounts.people import active_people
from postroom.mail import search
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Folder, Mailbox
from postroom.sync.ingress import INGRESS_FOLDER

from .quick_select import QuickSelect

# The user's own BCC tracker mailbox is offered to them alone (mailboxes_for never gives
# anyone else's personal mailboxes), under a name that says what it holds.
TRACKER_LABEL = "Your BCC tracker (mail you sent with it in BCC)"


class _MailboxChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Mailbox) -> str:
        return TRACKER_LABEL if obj.pk in self.tracker_ids else str(obj)


class _FolderChoice(forms.ModelChoiceField):
    def label_from_instance(self, obj: Folder) -> str:
        if obj.mailbox_id in self.tracker_ids:
            return "Your BCC tracker"
        return f"{obj.mailbox.name}: {obj.name}"


class SearchForm(forms.Form):
    q = forms.CharField(
        label="Words",
        required=False,
        max_length=search.QUERY_CHARS,
        widget=forms.TextInput(attrs={"type": "search", "autofocus": True}),
    )
    # QuickSelect: a hundred mailboxes and their folders, in Python, not in templates.
    mailbox = _MailboxChoice(
        queryset=None, required=False, empty_label="All mailboxes", widget=QuickSelect
    )
    folder = _FolderChoice(
        queryset=None,
        required=False,
        empty_label="All folders but Spam and Trash",
        widget=QuickSelect,
    )
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Read or unread"),
            (search.Status.UNREAD, "Unread"),
            (search.Status.READ, "Read"),
            (search.Status.QUARANTINED, "Quarantined"),
        ],
    )
    responsible = forms.ModelChoiceField(
        queryset=None,
        required=False,
        empty_label="Anyone",
        label="Responsible",
        widget=QuickSelect,
    )
    since = forms.DateField(
        required=False, label="Received from", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="Received until", widget=forms.DateInput(attrs={"type": "date"})
    )
    has_attachment = forms.ChoiceField(
        required=False,
        label="Attachments",
        choices=[("", "With or without"), ("yes", "With attachments"), ("no", "Without")],
    )
    order = forms.ChoiceField(
        required=False,
        label="Order",
        choices=[(search.Order.RELEVANCE, "Best match"), (search.Order.NEWEST, "Newest")],
    )

    def __init__(self, user, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Choices come from what the user may read: another mailbox's id is "not a
        # valid choice", the same answer as for an id that does not exist.
        readable = mailboxes_for(user)
        tracker_ids = set(
            readable.filter(tracker__user=user).values_list("pk", flat=True)
            if user.is_authenticated
            else ()
        )
        self.fields["mailbox"].queryset = readable
        # Folders Postroom fills: those synced from the server, and the one the ingress
        # delivers to (an ingress-only mailbox's, a BCC tracker's). A folder not synced
        # holds no mail to find, so it is not offered.
        self.fields["folder"].queryset = (
            Folder.objects.filter(mailbox__in=readable)
            .filter(Q(is_synced=True) | Q(name=INGRESS_FOLDER))
            .select_related("mailbox")
            .order_by("mailbox__name", "name")
        )
        for name in ("mailbox", "folder"):
            self.fields[name].tracker_ids = tracker_ids
        self.fields["responsible"].queryset = active_people()

    def has_criteria(self) -> bool:
        data = self.cleaned_data
        return bool(data["q"].strip()) or any(
            data.get(name) not in (None, "") for name in self.fields if name not in {"q", "order"}
        )

    def search_arguments(self) -> dict[str, Any]:
        data = self.cleaned_data
        attachment = data.get("has_attachment")
        return {
            "query": data["q"],
            "mailbox": data["mailbox"],
            "folder": data["folder"],
            "status": data["status"] or None,
            "responsible": data["responsible"],
            # Dates are days in the user's time zone; "to" includes its whole day.
            "since": _start_of(data["since"]),
            "until": _start_of(data["until"] + timedelta(days=1) if data["until"] else None),
            "has_attachment": {"yes": True, "no": False}.get(attachment or ""),
            "order": data["order"] or search.Order.RELEVANCE,
        }


def _start_of(day: date | None) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))
