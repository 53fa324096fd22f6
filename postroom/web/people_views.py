"""People, for administrators: add or invite a colleague, deactivate and reactivate,
and see what a person holds (grants, conversations, CRM items, rules), which stays
with them, marked "(deactivated)", until someone hands it on. The writes are
postroom/accounts/actions.py's; the invitation link is postroom/accounts/invitations.py's.

The invitation page itself is public: the signed, expiring, one-time token is the key.
"""

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth import password_validation
from django.contrib.auth.forms import SetPasswordForm
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from postroom.accounts import actions
from postroom.accounts import roles as role_service
from postroom.accounts.invitations import InvitationError, lifetime, read_token
from postroom.accounts.models import Department, Role, User
from postroom.accounts.people import by_name
from postroom.crm.models import Company, Contact, Deal, Lead, SmartItem, Task
from postroom.mail.models import Conversation
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.retention.choices import personal_mailboxes_of
from postroom.routing.models import DistributionRule, SlaPolicy

from .admin_views import admin_view


@dataclass(frozen=True)
class Holding:
    """Something a person holds: shown on their page, and again when they are deactivated."""

    label: str
    url: str = ""


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def holdings_of(person: User) -> list[Holding]:
    """What the person holds that a colleague may need to take over."""
    held: list[Holding] = []
    for grant in MailboxGrant.objects.filter(user=person).select_related("mailbox"):
        held.append(
            Holding(
                f"{grant.get_level_display()} access to {grant.mailbox.address}",
                reverse("web:mailbox_access", args=[grant.mailbox_id]),
            )
        )
    open_conversations = (
        Conversation.objects.filter(responsible=person)
        .exclude(status=Conversation.Status.CLOSED)
        .count()
    )
    if open_conversations:
        held.append(
            Holding(
                "responsible for "
                + _count(open_conversations, "open conversation", "open conversations"),
                f"{reverse('web:inbox')}?view=open&responsible={person.pk}",
            )
        )
    for model, one, many, url in (
        (Lead, "lead", "leads", "web:leads"),
        (Contact, "contact", "contacts", "web:contacts"),
        (Company, "company", "companies", "web:companies"),
        (Deal, "deal", "deals", "web:deals"),
    ):
        if n := model.objects.filter(responsible=person).count():
            held.append(
                Holding(
                    f"responsible for {_count(n, one, many)}",
                    f"{reverse(url)}?responsible={person.pk}",
                )
            )
    if n := SmartItem.objects.filter(responsible=person).count():
        held.append(Holding(f"responsible for {_count(n, 'smart item', 'smart items')}"))
    if n := Task.objects.filter(responsible=person, done_at__isnull=True).count():
        held.append(Holding(f"{_count(n, 'open task', 'open tasks')}"))
    rules = (
        DistributionRule.objects.filter(
            Q(target_user=person) | Q(on_call=person) | Q(queue_users=person)
        )
        .select_related("mailbox")
        .distinct()
    )
    for rule in rules:
        held.append(
            Holding(
                f"named in the rule “{rule}” of {rule.mailbox.address}",
                reverse("web:rule_edit", args=[rule.mailbox_id, rule.pk]),
            )
        )
    for policy in SlaPolicy.objects.filter(supervisor=person).select_related("mailbox"):
        held.append(
            Holding(
                f"supervisor of reply deadlines on {policy.mailbox.address}",
                reverse("web:mailbox_deadlines", args=[policy.mailbox_id]),
            )
        )
    for mailbox in Mailbox.objects.filter(
        Q(crm_responsible=person) | Q(crm_notify=person), kind=Mailbox.Kind.SHARED
    ).distinct():
        held.append(
            Holding(
                f"responsible for or told of new CRM items of {mailbox.address}",
                reverse("web:mailbox_settings", args=[mailbox.pk]),
            )
        )
    for department in Department.objects.filter(head=person):
        held.append(
            Holding(f"head of {department.name}", reverse("web:department", args=[department.pk]))
        )
    return held


# --------------------------------------------------------------------- the list, a person


class UserAccessForm(forms.Form):
    roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    departments = forms.ModelMultipleChoiceField(
        queryset=Department.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )


@admin_view
def user_list(request):
    people = by_name(User.objects.all()).prefetch_related("roles")
    departments_by_user: dict[int, list[Department]] = {}
    for department in Department.objects.prefetch_related("group__user_set"):
        for member in department.group.user_set.all():
            departments_by_user.setdefault(member.pk, []).append(department)
    listing = [
        (
            person,
            departments_by_user.get(person.pk, []),
            # What a deactivated person still holds, so that it is handed on.
            [] if person.is_active else holdings_of(person),
        )
        for person in people
    ]
    return render(request, "accounts/user_list.html", {"people": listing})


@admin_view
def user_access(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    form = UserAccessForm(
        request.POST or None,
        initial={
            "roles": list(person.roles.values_list("pk", flat=True)),
            "departments": list(
                Department.objects.filter(group__user=person).values_list("pk", flat=True)
            ),
        },
    )
    if request.method == "POST" and form.is_valid():
        role_service.do_set_user_roles(person, form.cleaned_data["roles"], acting_user=request.user)
        role_service.do_set_user_departments(
            person, form.cleaned_data["departments"], acting_user=request.user
        )
        messages.success(request, f"Saved the roles and departments of {person}.")
        return redirect("web:user_access", person.pk)
    return render(
        request,
        "accounts/user_access.html",
        {
            "person": person,
            "form": form,
            "holdings": holdings_of(person),
            "invited": actions.is_invited(person),
        },
    )


# --------------------------------------------------------------------- adding


class PersonForm(forms.Form):
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    email = forms.EmailField(max_length=254)
    username = forms.CharField(
        max_length=150, required=False, help_text="Empty: the part of the email before the @."
    )
    departments = forms.ModelMultipleChoiceField(
        queryset=Department.objects.all(), required=False, widget=forms.CheckboxSelectMultiple
    )
    roles = forms.ModelMultipleChoiceField(
        queryset=Role.objects.filter(is_default=False),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Roles besides the default ones",
    )
    how = forms.ChoiceField(
        choices=[
            ("invite", "An invitation link: they choose their own password"),
            ("password", "A generated password, shown once, that I pass on"),
        ],
        initial="invite",
        widget=forms.RadioSelect,
        label="How they log in the first time",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = ", ".join(Role.objects.filter(is_default=True).values_list("name", flat=True))
        self.fields[
            "roles"
        ].help_text = f"Everyone starts with the default roles ({defaults or 'none set'})."


def _invitation_url(request, user: User, token: str) -> str:
    return request.build_absolute_uri(reverse("web:invitation", args=[token]))


@admin_view
def person_add(request):
    form = PersonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        invite = data["how"] == "invite"
        try:
            person, password = actions.do_add_person(
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                username=data["username"],
                departments=data["departments"],
                roles=data["roles"],
                invite=invite,
                acting_user=request.user,
            )
        except actions.UserError as exc:
            form.add_error(None, str(exc))
        else:
            # Shown on this response only, never stored: a reload asks again.
            link = _invitation_url(request, person, actions.invitation_token(person))
            return render(
                request,
                "accounts/person_added.html",
                {
                    "person": person,
                    "password": password,
                    "link": link if invite else "",
                    "days": lifetime().days,
                },
            )
    return render(request, "accounts/person_add.html", {"form": form, "section": "people"})


@admin_view
@require_POST
def person_invite_again(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    try:
        token = actions.do_renew_invitation(person, acting_user=request.user)
    except actions.UserError as exc:
        messages.error(request, f"No new link: {exc}.")
        return redirect("web:user_access", person.pk)
    return render(
        request,
        "accounts/person_added.html",
        {
            "person": person,
            "link": _invitation_url(request, person, token),
            "days": lifetime().days,
            "renewed": True,
        },
    )


@admin_view
@require_POST
def person_deactivate(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    if personal_mailboxes_of(person).exists():
        # Their mail's fate is chosen first (a page opened before they connected one).
        messages.error(request, "They have personal mailboxes: choose what happens to their mail.")
        return redirect("web:retention_deactivate", person.pk)
    try:
        actions.do_deactivate_user(person, acting_user=request.user)
    except actions.UserError as exc:
        messages.error(request, f"Not deactivated: {exc}.")
    else:
        held = len(holdings_of(person))
        messages.success(
            request,
            f"{person.display_name} is deactivated and can no longer log in."
            + (f" They still hold {_count(held, 'thing', 'things')}: see below." if held else ""),
        )
    return redirect("web:user_access", person.pk)


@admin_view
@require_POST
def person_reactivate(request, user_id: int):
    person = get_object_or_404(User, pk=user_id)
    actions.do_reactivate_user(person, acting_user=request.user)
    messages.success(request, f"{person.display_name} may log in again.")
    return redirect("web:user_access", person.pk)


# --------------------------------------------------------------------- the invitation


def invitation(request, token: str):
    """The invited colleague chooses their password, then logs in."""
    try:
        person = read_token(token)
    except InvitationError as exc:
        return render(request, "accounts/invitation.html", {"problem": str(exc)}, status=410)
    form = SetPasswordForm(person, request.POST or None)
    rules = password_validation.password_validators_help_text_html()
    form.fields["new_password1"].help_text = rules
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_accept_invitation(token, form.cleaned_data["new_password1"])
        except InvitationError as exc:
            return render(request, "accounts/invitation.html", {"problem": str(exc)}, status=410)
        messages.success(request, f"Your password is set. Log in as {person.get_username()}.")
        return redirect("login")
    return render(request, "accounts/invitation.html", {"person": person, "form": form})
