"""Distribution rules pages: a mailbox's rules (list, add, edit, reorder, disable,
delete, "Who would get this?") for its managers and administrators; business-hours
calendars and absences for anyone who manages a shared mailbox."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from postroom.mail.workflow import people_for
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.routing import actions
from postroom.routing.calendars import CalendarError
from postroom.routing.models import Absence, BusinessHours, DistributionRule
from postroom.routing.rules import RuleError, decide, describe, rule_problems

from .access import get_mailbox_for_user
from .forms_routing import AbsenceForm, CalendarForm, RuleForm, WhoWouldGetThisForm

MANAGE = MailboxGrant.Level.MANAGE


def _get_rule_for_user(user, mailbox_id: int, rule_id: int) -> DistributionRule:
    mailbox = get_mailbox_for_user(user, mailbox_id, MANAGE)
    return get_object_or_404(DistributionRule.objects.select_related("mailbox"),
                             pk=rule_id, mailbox=mailbox)  # fmt: skip


def _check_may_edit_calendars(user) -> None:
    shared = mailboxes_for(user, MANAGE).filter(kind=Mailbox.Kind.SHARED)
    if not (user.is_superuser or shared.exists()):
        raise PermissionDenied("only administrators and mailbox managers edit business hours")


@login_required
def mailbox_rules(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MANAGE)
    readers = set(people_for(mailbox).values_list("pk", flat=True))
    rules = [
        (number, rule, describe(rule), rule_problems(rule, readers))
        for number, rule in enumerate(actions.rules_of(mailbox), 1)
    ]
    who = WhoWouldGetThisForm(request.GET or None, mailbox=mailbox)
    decision = tried = None
    if request.GET and who.is_valid():
        tried = who.chosen()
        if tried is not None:
            decision = decide(tried, mailbox, preview=True)
    context = {
        "mailbox": mailbox,
        "rules": rules,
        "count": len(rules),
        "default": mailbox.crm_responsible or mailbox.owner,
        "who": who,
        "tried": tried,
        "decision": decision,
    }
    return render(request, "web/routing/rules.html", context)


@login_required
def rule_edit(request, mailbox_id: int, rule_id: int | None = None):
    if rule_id is None:
        mailbox, rule = get_mailbox_for_user(request.user, mailbox_id, MANAGE), None
    else:
        rule = _get_rule_for_user(request.user, mailbox_id, rule_id)
        mailbox = rule.mailbox
    form = RuleForm(request.POST or None, instance=rule, mailbox=mailbox)
    if request.method == "POST" and form.is_valid():
        try:
            if rule is None:
                actions.do_add_rule(mailbox, acting_user=request.user, **form.fields_for_service())
            else:
                actions.do_update_rule(rule, acting_user=request.user, **form.fields_for_service())
        except RuleError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, "Rule saved.")
            return redirect("web:mailbox_rules", mailbox.pk)
    context = {"mailbox": mailbox, "rule": rule, "form": form}
    return render(request, "web/routing/rule_edit.html", context)


@login_required
@require_POST
def rule_move(request, mailbox_id: int, rule_id: int):
    rule = _get_rule_for_user(request.user, mailbox_id, rule_id)
    try:
        position = int(request.POST.get("to", ""))
    except ValueError:
        messages.error(request, "Not moved: give a position.")
    else:
        actions.do_move_rule(rule, position)
    return redirect("web:mailbox_rules", mailbox_id)


@login_required
@require_POST
def rule_toggle(request, mailbox_id: int, rule_id: int):
    rule = _get_rule_for_user(request.user, mailbox_id, rule_id)
    actions.do_set_rule_enabled(rule, not rule.enabled)
    messages.success(request, f"{rule} {'enabled' if rule.enabled else 'disabled'}.")
    return redirect("web:mailbox_rules", mailbox_id)


@login_required
@require_POST
def rule_delete(request, mailbox_id: int, rule_id: int):
    rule = _get_rule_for_user(request.user, mailbox_id, rule_id)
    actions.do_delete_rule(rule)
    messages.success(request, f"{rule} deleted.")
    return redirect("web:mailbox_rules", mailbox_id)


# ------------------------------------------------------------------ calendars, absences


@login_required
def calendars(request):
    _check_may_edit_calendars(request.user)
    form = CalendarForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            calendar = actions.do_save_calendar(None, **form.cleaned_data)
        except CalendarError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, f"Calendar {calendar} saved.")
            return redirect("web:calendars")
    context = {
        "calendars": BusinessHours.objects.order_by("name"),
        "form": form,
        "absences": Absence.objects.select_related("user").order_by("starts_on"),
        "absence_form": AbsenceForm(),
    }
    return render(request, "web/routing/calendars.html", context)


@login_required
def calendar_edit(request, calendar_id: int):
    _check_may_edit_calendars(request.user)
    calendar = get_object_or_404(BusinessHours, pk=calendar_id)
    form = CalendarForm.of(calendar, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.do_save_calendar(calendar, **form.cleaned_data)
        except CalendarError as exc:
            form.add_error(None, f"Not saved: {exc}")
        else:
            messages.success(request, f"Calendar {calendar} saved.")
            return redirect("web:calendars")
    return render(request, "web/routing/calendar_edit.html", {"calendar": calendar, "form": form})


@login_required
@require_POST
def calendar_delete(request, calendar_id: int):
    _check_may_edit_calendars(request.user)
    calendar = get_object_or_404(BusinessHours, pk=calendar_id)
    try:
        actions.do_delete_calendar(calendar)
    except CalendarError as exc:
        messages.error(request, f"Not deleted: {exc}")
    else:
        messages.success(request, f"Calendar {calendar} deleted.")
    return redirect("web:calendars")


@login_required
@require_POST
def absence_add(request):
    _check_may_edit_calendars(request.user)
    form = AbsenceForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        actions.do_add_absence(data["user"], data["starts_on"], data["ends_on"], data["note"])
        messages.success(request, f"{data['user']} is away {data['starts_on']}–{data['ends_on']}.")
    else:
        errors = "; ".join(e for errs in form.errors.values() for e in errs)
        messages.error(request, f"Not saved: {errors}")
    return redirect("web:calendars")


@login_required
@require_POST
def absence_remove(request, absence_id: int):
    _check_may_edit_calendars(request.user)
    actions.do_remove_absence(get_object_or_404(Absence, pk=absence_id))
    return redirect("web:calendars")
