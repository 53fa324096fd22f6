"""The forms of the distribution rules pages: a rule, a business-hours calendar, an
absence, and the "Who would get this?" box. They check input and say why it cannot
work (a regular expression that does not compile, a calendar without hours); the
services of postroom.routing.actions save."""

from django import forms

from postroom.accounts.models import Department
from postroom.accounts.people import active_people
from postroom.mail.models import Message
from postroom.mail.workflow import people_for
from postroom.routing import calendars
from postroom.routing.models import BusinessHours, DistributionRule
from postroom.routing.rules import RuleError, check_rule, keyword_pattern, sender_set


def _people():
    return active_people()


class RuleForm(forms.ModelForm):
    class Meta:
        model = DistributionRule
        fields = [
            "kind", "name", "enabled", "keywords", "is_regex", "match_in", "senders",
            "target_user", "queue_users", "department", "skip_away", "load_limit", "calendar",
            "on_call",
        ]  # fmt: skip
        labels = {
            "kind": "When",
            "name": "Name (optional)",
            "keywords": "Keywords, one a line",
            "is_regex": "The keywords are regular expressions",
            "match_in": "Look in",
            "senders": "Sender addresses or domains, one a line",
            "target_user": "Give it to",
            "queue_users": "…or in turn to these people",
            "department": "…and the members of this department",
            "skip_away": "Skip people who are away",
            "load_limit": "Skip people with this many open conversations",
            "calendar": "Business hours",
            "on_call": "Outside business hours, the on-call person",
        }
        help_texts = {
            "keywords": "Whole words in any case (VIP matches “a vip client”, not “viper”).",
            "senders": "anna@partner.com, or partner.com for everyone there (and subdomains).",
            "target_user": "Empty: the queue below, in turn (round-robin).",
        }
        widgets = {
            "keywords": forms.Textarea(attrs={"rows": 3}),
            "senders": forms.Textarea(attrs={"rows": 3}),
            "queue_users": forms.CheckboxSelectMultiple,
        }

    def __init__(self, *args, mailbox, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.mailbox = mailbox
        # Only people who may read the mailbox can be responsible for its mail.
        for name in ("target_user", "on_call", "queue_users"):
            self.fields[name].queryset = people_for(mailbox)
        self.fields["department"].queryset = Department.objects.order_by("name")
        self.fields["calendar"].queryset = BusinessHours.objects.order_by("name")

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == DistributionRule.Kind.KEYWORD:
            try:
                keyword_pattern(data.get("keywords", ""), data.get("is_regex", False))
            except RuleError as exc:
                self.add_error("keywords", str(exc))
        if kind == DistributionRule.Kind.SENDER:
            try:
                sender_set(data.get("senders", ""))
            except RuleError as exc:
                self.add_error("senders", str(exc))
        if self.errors:
            return data
        rule = DistributionRule(mailbox=self.instance.mailbox)
        for name in self.Meta.fields:
            if name != "queue_users" and name in data:
                setattr(rule, name, data[name])
        queue = [u.pk for u in data.get("queue_users") or []]
        if kind == DistributionRule.Kind.ROUND_ROBIN:
            rule.target_user = None
        try:
            check_rule(rule, queue)
        except RuleError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return data

    def fields_for_service(self) -> dict:
        data = self.cleaned_data
        fields = {name: data[name] for name in self.Meta.fields}
        fields["queue_users"] = list(data["queue_users"])
        return fields


class CalendarForm(forms.Form):
    name = forms.CharField(max_length=100)
    time_zone = forms.CharField(
        max_length=64, initial="UTC", help_text="A name such as Europe/Berlin."
    )
    week = forms.CharField(
        label="Working hours",
        widget=forms.Textarea(attrs={"rows": 4}),
        initial="mon-fri 09:00-17:00",
        help_text="One line per days: mon-fri 09:00-12:30, 13:30-17:00 · sat 10:00-14:00",
    )
    holidays = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Dates such as 2026-12-25, one a line: closed all day.",
    )

    def clean_time_zone(self):
        value = self.cleaned_data["time_zone"].strip()
        try:
            calendars.check_time_zone(value)
        except calendars.CalendarError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_week(self):
        value = self.cleaned_data["week"]
        try:
            calendars.parse_week(value)
        except calendars.CalendarError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_holidays(self):
        value = self.cleaned_data["holidays"]
        try:
            calendars.parse_holidays(value)
        except calendars.CalendarError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return value

    @classmethod
    def of(cls, calendar: BusinessHours, data=None) -> "CalendarForm":
        initial = {
            "name": calendar.name,
            "time_zone": calendar.time_zone,
            "week": calendar.week_text,
            "holidays": calendar.holidays_text,
        }
        return cls(data, initial=initial)


class AbsenceForm(forms.Form):
    user = forms.ModelChoiceField(queryset=None, label="Who")
    starts_on = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label="Until", widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(max_length=200, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = _people()

    def clean(self):
        data = super().clean()
        if data.get("starts_on") and data.get("ends_on") and data["ends_on"] < data["starts_on"]:
            raise forms.ValidationError("the absence ends before it starts")
        return data


class WhoWouldGetThisForm(forms.Form):
    """Pick an email of the mailbox by id, or from its recent ones."""

    message = forms.IntegerField(label="Email id", min_value=1, required=False)
    recent = forms.TypedChoiceField(label="…or a recent email", coerce=int, required=False)

    def __init__(self, *args, mailbox, **kwargs):
        super().__init__(*args, **kwargs)
        self.mailbox = mailbox
        recent = (
            Message.objects.filter(copies__mailbox=mailbox, status=Message.Status.PARSED)
            .distinct()
            .order_by("-pk")
            .values_list("pk", "from_address", "subject")[:20]
        )
        self.fields["recent"].choices = [("", "—")] + [
            (pk, f"#{pk} {sender}: {subject[:60]}") for pk, sender, subject in recent
        ]

    def chosen(self) -> Message | None:
        pk = self.cleaned_data.get("message") or self.cleaned_data.get("recent")
        if not pk:
            return None
        found = Message.objects.filter(pk=pk, copies__mailbox=self.mailbox).distinct().first()
        if found is None:
            self.add_error("message", f"{self.mailbox.address} holds no email {pk}")
        return found
