"""The forms of connecting a mailbox (its server and login) and of a shared mailbox's
pages for its managers: its settings (how it is read, what its mail makes in the CRM,
where its sent mail is filed) and who may use it.

It validates input and hands clean values to the services that decide:
postroom.mailboxes.actions (name and sync), postroom.crm.actions (the CRM rule) and
postroom.outbound.actions (Sent).
"""

from dataclasses import replace

from django import forms
from django.contrib.auth import get_user_model

from postroom.accounts.models import Department
from postroom.accounts.people import active_people
from postroom.crm.models import SmartType
from postroom.mailboxes import limits
from postroom.mailboxes.actions import (
    MAX_INITIAL_DAYS,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    ConnectionSettings,
    SyncSettings,
    imap_server_refusal,
)
from postroom.mailboxes.models import CrmRuleKind, Mailbox, MailboxGrant, Security
from postroom.mailboxes.smtp_login import SmtpSettings, smtp_settings_refusal
from postroom.outbound.models import OutboundSettings
from postroom.tracking.switches import mailbox_tracks

SMART = "smart:"  # a smart rule's choice is "smart:<slug of the type>"


def crm_rule_choices() -> list[tuple[str, str]]:
    """One choice per rule, the smart rule once per smart type."""
    choices = [
        (CrmRuleKind.LEAD.value, CrmRuleKind.LEAD.label),
        (CrmRuleKind.CONTACT_DEAL.value, CrmRuleKind.CONTACT_DEAL.label),
    ]
    choices += [
        (f"{SMART}{slug}", f"Create a “{name}” item")
        for slug, name in SmartType.objects.order_by("name").values_list("slug", "name")
    ]
    choices.append((CrmRuleKind.NONE.value, "Nothing: the mail stays out of the CRM"))
    return choices


def show_window_limit(form: forms.Form) -> None:
    """The administrator's maximum of the initial fetch window, said under the field.

    Not a form bound: a mailbox saved with a wider window before the limit was lowered
    keeps it, and its other settings still save; the action refuses a wider window and
    says why (postroom.mailboxes.limits)."""
    field = form.fields.get("initial_days")
    limit = limits.initial_days_max()
    if field is not None and limit is not None:
        said = f"At most {limit} days: the limit your administrator set."
        field.help_text = f"{field.help_text} {said}".strip()
        if isinstance(field.initial, int) and field.initial > limit:
            field.initial = limit  # the default offered must be one that saves


class ImapServerForm(forms.Form):
    """A mailbox's address and the IMAP server and login it is read with."""

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

    def clean(self) -> dict:
        data = super().clean()
        host, port = data.get("imap_host"), data.get("imap_port")
        if host and port and (reason := imap_server_refusal(host.strip(), port)):
            self.add_error("imap_host", f"{reason[0].upper()}{reason[1:]}.")
        return data

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


class SharedConnectForm(ImapServerForm):
    """Connecting a shared mailbox: its server, or none when an MTA delivers its mail to
    Postroom's SMTP/LMTP ingress; where replies are sent; what its mail makes in the CRM."""

    field_order = ["address", "name", "ingress_only"]
    IMAP_FIELDS = ("imap_host", "imap_port", "imap_security", "username", "password")

    ingress_only = forms.BooleanField(
        label="No IMAP server: an MTA delivers its mail to Postroom (SMTP/LMTP ingress)",
        required=False,
    )
    smtp_host = forms.CharField(
        label="SMTP server for replies",
        max_length=255,
        required=False,
        help_text="Empty: no replies from this mailbox until one is set in its Settings. "
        "Postroom logs in to it before it saves anything; nothing is sent.",
    )
    smtp_port = forms.IntegerField(label="SMTP port", min_value=1, max_value=65535, required=False)
    smtp_security = forms.ChoiceField(
        label="SMTP security", choices=[("", "—"), *Security.choices], required=False
    )
    smtp_username = forms.CharField(
        label="SMTP username",
        max_length=255,
        required=False,
        help_text="Empty: the IMAP username.",
    )
    smtp_password = forms.CharField(
        label="SMTP password",
        widget=forms.PasswordInput,
        strip=False,
        required=False,
        help_text="Empty: the IMAP password. Stored encrypted.",
    )
    crm_rule = forms.ChoiceField(label="Mail from someone the CRM does not know")
    initial_days = forms.IntegerField(
        label="Days back to fetch", min_value=1, max_value=MAX_INITIAL_DAYS, initial=30
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        show_window_limit(self)
        self.fields["crm_rule"].choices = crm_rule_choices()
        if self.data.get("ingress_only"):
            for name in self.IMAP_FIELDS:
                self.fields[name].required = False

    def clean(self) -> dict:
        data = super().clean()
        _check_smtp_fields(self, data)
        return data

    def connection(self) -> ConnectionSettings:
        data = self.cleaned_data
        smtp = {
            "smtp_host": data["smtp_host"].strip(),
            "smtp_port": data["smtp_port"],
            "smtp_security": data["smtp_security"],
            "smtp_username": data["smtp_username"].strip(),
            "smtp_password": data["smtp_password"],
        }
        if data["ingress_only"]:
            return ConnectionSettings(
                address=data["address"], name=data["name"] or data["address"], **smtp
            )
        return replace(super().connection(), **smtp)


def _check_smtp_fields(form: forms.Form, data: dict) -> None:
    """A server needs its port and security: said on the field, before any check runs."""
    choice = SmtpSettings(
        host=(data.get("smtp_host") or "").strip(),
        port=data.get("smtp_port"),
        security=data.get("smtp_security") or "",
    )
    if reason := smtp_settings_refusal(choice):
        field = "smtp_port" if "port" in reason else "smtp_security"
        form.add_error(field, f"{reason[0].upper()}{reason[1:]}.")


class MailboxSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    initial_days = forms.IntegerField(
        label="Days back to fetch",
        min_value=1,
        max_value=MAX_INITIAL_DAYS,
        help_text="How far back the mailbox's folders are read. More days: the mail of "
        "the added days is fetched now. Fewer: mail fetched already stays.",
    )
    poll_interval = forms.IntegerField(
        label="Poll interval (seconds)",
        required=False,
        min_value=MIN_POLL_INTERVAL,
        max_value=MAX_POLL_INTERVAL,
        help_text="Only for a server that cannot push new mail (IMAP IDLE). Empty: the "
        "installation's default.",
    )
    allow_self_signed = forms.BooleanField(
        label="Accept a self-signed certificate",
        required=False,
        help_text="Still encrypted, but not protected against a man in the middle: only "
        "for a server you control.",
    )
    crm_rule = forms.ChoiceField(label="Mail from someone the CRM does not know")
    crm_route_to_manager = forms.BooleanField(
        label="Mail from existing clients goes to their manager",
        required=False,
        help_text=Mailbox._meta.get_field("crm_route_to_manager").help_text,
    )
    crm_join_company_domain = forms.BooleanField(
        label="Join new people to the company of their mail domain",
        required=False,
        help_text=Mailbox._meta.get_field("crm_join_company_domain").help_text,
    )
    crm_responsible = forms.ModelChoiceField(
        label="Responsible person of new CRM items",
        queryset=get_user_model().objects.none(),
        required=False,
        empty_label="Nobody in particular",
    )
    crm_notify = forms.ModelMultipleChoiceField(
        label="Tell these people of new CRM items",
        queryset=get_user_model().objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    smtp_host = forms.CharField(
        label="SMTP server",
        max_length=255,
        required=False,
        help_text="Where replies from this mailbox are sent. Empty: it cannot send. A "
        "changed server or login is saved once Postroom has logged in with it (nothing "
        "is sent).",
    )
    smtp_port = forms.IntegerField(
        label="SMTP port",
        min_value=1,
        max_value=65535,
        required=False,
        help_text="Usually 587 (STARTTLS) or 465 (implicit TLS).",
    )
    smtp_security = forms.ChoiceField(
        label="SMTP security", choices=[("", "—"), *Security.choices], required=False
    )
    smtp_username = forms.CharField(
        label="SMTP username", max_length=255, required=False, help_text="Empty: the IMAP username."
    )
    smtp_password = forms.CharField(
        label="SMTP password",
        widget=forms.PasswordInput,
        strip=False,
        required=False,
        help_text="Empty: unchanged. Stored encrypted.",
    )
    save_to_sent = forms.BooleanField(
        label="File sent mail in the Sent folder",
        required=False,
        help_text="Turn off for providers whose SMTP server files it there itself (Gmail, "
        "Microsoft 365), or every reply is there twice.",
    )
    track_emails = forms.BooleanField(
        label="Track opens and clicks of sent mail",
        required=False,
        help_text="A tracking image and links through Postroom in mail to customers.",
    )

    def __init__(self, *args, mailbox: Mailbox, **kwargs) -> None:
        super().__init__(*args, initial=self.initial_for(mailbox), **kwargs)
        show_window_limit(self)
        self.fields["crm_rule"].choices = crm_rule_choices()
        users = active_people()
        self.fields["crm_responsible"].queryset = users
        if mailbox.owner is not None:  # capture falls back on the owner (crm.actions)
            self.fields["crm_responsible"].empty_label = f"Its owner, {mailbox.owner}"
        self.fields["crm_notify"].queryset = users
        if mailbox.imap_security not in (Security.SSL, Security.STARTTLS):
            del self.fields["allow_self_signed"]  # no TLS: no certificate to accept
        if not mailbox.has_imap:  # fed by the ingress: nothing is polled or filed in Sent
            for name in ("initial_days", "poll_interval", "save_to_sent"):
                del self.fields[name]

    @staticmethod
    def initial_for(mailbox: Mailbox) -> dict:
        rule = mailbox.crm_rule
        if rule == CrmRuleKind.SMART:
            rule = f"{SMART}{mailbox.crm_smart_type}"
        return {
            "name": mailbox.name,
            "initial_days": mailbox.initial_days,
            "poll_interval": mailbox.poll_interval,
            "allow_self_signed": mailbox.allow_self_signed,
            "crm_rule": rule,
            "crm_route_to_manager": mailbox.crm_route_to_manager,
            "crm_join_company_domain": mailbox.crm_join_company_domain,
            "crm_responsible": mailbox.crm_responsible_id,
            "crm_notify": list(mailbox.crm_notify.values_list("pk", flat=True)),
            "smtp_host": mailbox.smtp_host,
            "smtp_port": mailbox.smtp_port,
            "smtp_security": mailbox.smtp_security,
            "smtp_username": mailbox.smtp_username,
            "save_to_sent": OutboundSettings.of(mailbox).save_to_sent,
            "track_emails": mailbox_tracks(mailbox.pk),
        }

    def clean(self) -> dict:
        data = super().clean()
        _check_smtp_fields(self, data)
        return data

    def smtp_settings(self) -> SmtpSettings:
        data = self.cleaned_data
        return SmtpSettings(
            host=data["smtp_host"].strip(),
            port=data["smtp_port"],
            security=data["smtp_security"],
            username=data["smtp_username"].strip(),
            password=data["smtp_password"],
        )

    def smtp_changed(self, mailbox: Mailbox) -> bool:
        """Whether the SMTP server or login differs from the saved one."""
        choice = self.smtp_settings()
        saved = (mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_security)
        return (
            bool(choice.password)
            or (choice.host, choice.port, choice.security) != saved
            or choice.username != mailbox.smtp_username
        )

    def sync_settings(self, mailbox: Mailbox) -> SyncSettings:
        data = self.cleaned_data
        return SyncSettings(
            name=data["name"],
            initial_days=data.get("initial_days", mailbox.initial_days),
            poll_interval=data.get("poll_interval", mailbox.poll_interval),
            allow_self_signed=data.get("allow_self_signed", False),
        )

    def crm_settings(self) -> dict:
        """Keyword arguments of crm.actions.do_configure_mailbox_crm."""
        data = self.cleaned_data
        rule, _, smart_type = data["crm_rule"].partition(":")
        return {
            "rule": rule,
            "smart_type": smart_type,
            "route_to_manager": data["crm_route_to_manager"],
            "join_company_domain": data["crm_join_company_domain"],
            "responsible": data["crm_responsible"],
            "notify": list(data["crm_notify"]),
        }


class GrantForm(forms.Form):
    """Who gets which access: a person or a department (its group), one of the two."""

    user = forms.ModelChoiceField(
        label="Person", queryset=get_user_model().objects.none(), required=False
    )
    department = forms.ModelChoiceField(
        label="or department", queryset=Department.objects.none(), required=False
    )
    level = forms.TypedChoiceField(
        label="Access",
        choices=MailboxGrant.Level.choices,
        coerce=int,
        initial=MailboxGrant.Level.READ,
        help_text="Read: see its mail. Reply: also answer and send from it. Manage: also "
        "change its settings, password and access.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["user"].queryset = active_people()
        self.fields["department"].queryset = Department.objects.select_related("group")

    def clean(self):
        data = super().clean()
        if bool(data.get("user")) == bool(data.get("department")):
            raise forms.ValidationError("Choose a person or a department.")
        return data

    def grantee(self) -> dict:
        """Keyword arguments of mailboxes.actions.do_set_grant."""
        department = self.cleaned_data.get("department")
        if department is not None:
            return {"group": department.group}
        return {"user": self.cleaned_data["user"]}
