"""Retention and storage pages (postroom/retention holds the rules and the runs).

- /retention/: administrators set the organisation's default and each mailbox's own
  retention, see the dry run per mailbox, start a run, and read the log of runs;
- /retention/runs/ID/: what one run removed, per mailbox and rule;
- /storage/: what Postroom stores per mailbox, its growth per month, what retention freed;
- /mailboxes/ID/stop-sync/: switching a mailbox's sync off, with the choice for its
  unlinked mail shown first (its managers);
- /people/ID/deactivate-with-mail/: deactivating someone with personal mailboxes, idem;
- /tasks/ID/delete/: deleting a task, with the mail that goes with it shown first.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from postroom.accounts.people import display_name
from postroom.crm import items as item_kinds
from postroom.crm.models import Task
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.retention import choices, saved_plan, storage, sweep
from postroom.retention.models import COMMON_DAYS, MailboxRetention, RetentionRun
from postroom.retention.planning import all_rules, dry_run
from postroom.retention.rules import (
    RetentionError,
    do_set_mailbox_days,
    do_set_organisation_days,
    organisation_days,
    unlinked_rule,
)

from .access import get_mailbox_for_user

# Removals listed on a run's page (the rest are counted per mailbox and rule).
LISTED_REMOVALS = 200


def admin_only(view: Callable) -> Callable:
    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_superuser:
            raise PermissionDenied("Only administrators manage retention and see storage.")
        return view(request, *args, **kwargs)

    return wrapper


def _posted_days(value: str, custom: str) -> int | None:
    """'30', '90', 'keep' or 'custom' with a number of days; RetentionError if not."""
    if value == "keep":
        return None
    raw = custom if value == "custom" else value
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise RetentionError(f"{raw!r} is not a number of days") from None


@admin_only
def retention(request):
    if request.method == "POST":
        try:
            _save_rules(request)
        except RetentionError as exc:
            messages.error(request, f"Not saved: {exc}.")
        return redirect("web:retention")
    # Fresh on a small database; at scale the last plan a job computed (saved_plan.py).
    shown = saved_plan.for_page()
    plan = shown.plan
    own = dict(MailboxRetention.objects.values_list("mailbox_id", "days"))
    rows = [(p, p.mailbox.pk in own, own.get(p.mailbox.pk)) for p in plan.mailboxes]
    runs = RetentionRun.objects.select_related("requested_by", "mailbox")[:50]
    context = {
        "plan": plan,
        "shown": shown,
        "rows": rows,
        "default_days": organisation_days(),
        "common_days": COMMON_DAYS,
        "runs": runs,
        "under_way": sweep.unfinished_runs().exists(),
    }
    return render(request, "retention/retention.html", context)


def _save_rules(request) -> None:
    if "default" in request.POST:
        days = _posted_days(request.POST["default"], request.POST.get("default_custom", ""))
        do_set_organisation_days(days, acting_user=request.user)
        messages.success(request, "Saved the organisation's retention.")
        saved_plan.outdated()
        return
    mailbox = get_object_or_404(Mailbox, pk=request.POST.get("mailbox") or 0)
    value = request.POST.get("days", "")
    if value == "default":
        do_set_mailbox_days(mailbox, None, follow_default=True, acting_user=request.user)
    else:
        days = _posted_days(value, request.POST.get("custom", ""))
        do_set_mailbox_days(mailbox, days, acting_user=request.user)
    messages.success(request, f"Saved the retention of {mailbox.address}.")
    saved_plan.outdated()


@admin_only
@require_POST
def retention_run(request):
    # At scale the dry run takes tens of seconds: the run's job computes it first.
    run = sweep.request_run(
        RetentionRun.Trigger.MANUAL, user=request.user, plan_now=saved_plan.is_cheap()
    )
    what = (
        f"{run.planned_copies} email copies to remove"
        if run.planned_copies is not None
        else "it counts what it removes before it starts"
    )
    messages.success(
        request, f"Run {run.pk} is queued: {what}. The mail server keeps every message."
    )
    return redirect("web:retention_run_detail", run.pk)


@admin_only
def retention_run_detail(request, run_id: int):
    run = get_object_or_404(RetentionRun.objects.select_related("requested_by"), pk=run_id)
    per_mailbox = (
        run.removals.values("mailbox_address", "rule")
        .annotate(copies=Count("pk"), size=Sum("raw_size"))
        .order_by("mailbox_address", "rule")
    )
    # An administrator does not read the private mail of others' personal mailboxes:
    # its removals are counted, not listed.
    private = Mailbox.objects.filter(kind=Mailbox.Kind.PERSONAL).exclude(owner=request.user)
    listed = run.removals.exclude(mailbox__in=private)[:LISTED_REMOVALS]
    context = {"run": run, "per_mailbox": per_mailbox, "removals": listed}
    return render(request, "retention/run_detail.html", context)


@admin_only
def storage_report(request):
    return render(request, "retention/storage.html", {"report": storage.report()})


# ------------------------------------------------------------- choices said first


@login_required
def stop_sync(request, mailbox_id: int):
    mailbox = get_mailbox_for_user(request.user, mailbox_id, MailboxGrant.Level.MANAGE)
    if request.method == "POST":
        try:
            run = choices.do_stop_sync(
                mailbox, request.POST.get("mail", ""), acting_user=request.user
            )
        except RetentionError as exc:
            messages.error(request, f"Sync is still on: {exc}.")
            return redirect("web:retention_stop_sync", mailbox.pk)
        removing = run.all_unlinked
        messages.success(
            request,
            f"Sync of {mailbox.address} is off. "
            + (
                f"{run.planned_copies} unlinked email(s) are being removed from Postroom."
                if removing
                else "Its mail stays."
            ),
        )
        return redirect("web:mailbox_folders", mailbox.pk)
    context = {
        "mailbox": mailbox,
        "unlinked": choices.unlinked_mail(mailbox),
        "rule": all_rules([mailbox])[0],
        "sync_on": choices.sync_is_on(mailbox),
    }
    return render(request, "retention/stop_sync.html", context)


@admin_only
def deactivate_with_mail(request, user_id: int):
    person = get_object_or_404(get_user_model(), pk=user_id)
    mailboxes = list(choices.personal_mailboxes_of(person))
    if request.method == "POST":
        try:
            choices.do_deactivate_user(
                person, request.POST.get("mail", ""), acting_user=request.user
            )
        except RetentionError as exc:
            messages.error(request, f"Not deactivated: {exc}.")
            return redirect("web:retention_deactivate", person.pk)
        messages.success(
            request, f"{display_name(person)} is deactivated and can no longer log in."
        )
        return redirect("web:user_access", person.pk)
    # An administrator sees how much unlinked mail each has, never what it is.
    unlinked = [(m, choices.unlinked_mail(m)) for m in mailboxes]
    context = {"person": person, "unlinked": unlinked}
    return render(request, "retention/deactivate.html", context)


@login_required
def delete_task(request, task_id: int):
    task = get_object_or_404(Task, pk=task_id)
    if not choices.may_delete_task(request.user, task):
        raise Http404
    item = task.item
    back = item_kinds.url_of(item) if item is not None else reverse("web:crm")
    if request.method == "POST":
        try:
            run = choices.do_delete_task(task, acting_user=request.user)
        except RetentionError as exc:
            messages.error(request, str(exc))
            return redirect(back)
        gone = (
            f" {len(run.message_ids)} email(s) bound only to it are being removed." if run else ""
        )
        messages.success(request, f"Task deleted.{gone}")
        return redirect(back)
    only = choices.mail_bound_only_to(task)
    holding = Mailbox.objects.filter(copies__message_id__in=only).distinct().order_by("pk")
    plan = dry_run([unlinked_rule(m, message_ids=only) for m in holding])
    context = {"task": task, "only": len(only), "back": back, "plan": plan}
    return render(request, "retention/delete_task.html", context)
