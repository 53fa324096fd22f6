"""Choices that remove mail outside the daily sweep, each said before it happens:

- sync switched off for a mailbox, or its owner's account deactivated: keep its
  unlinked mail (the mailbox's retention rule still applies) or remove it now;
- a task deleted: the mail bound only to it goes with it, attachments included.

Each is recorded as a RetentionRun (a "keep" too, as a run that removed nothing), so
the Retention page shows who chose what, when.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import TextChoices
from django.utils import timezone

from postroom.accounts.actions import UserError
from postroom.accounts.actions import do_deactivate_user as deactivate
from postroom.crm.access import can_edit
from postroom.crm.models import Task, TimelineEntry
from postroom.mail.models import ConversationMessage
from postroom.mailboxes.actions import LOCAL_FOLDERS, do_choose_folders
from postroom.mailboxes.models import Mailbox
from postroom.routing.models import SlaClock

from .models import RetentionRun
from .planning import MailboxPlan, dry_run
from .rules import RetentionError, rule_for, unlinked_rule
from .sweep import request_run
from .text import human_bytes

logger = logging.getLogger(__name__)


class Choice(TextChoices):
    KEEP = "keep", "Keep its unlinked mail"
    REMOVE = "remove", "Remove its unlinked mail from Postroom now"


def unlinked_mail(mailbox: Mailbox) -> MailboxPlan:
    """What "remove" would take: every email of the mailbox no CRM item or task holds."""
    return dry_run([unlinked_rule(mailbox)]).mailboxes[0]


def _choice(value: str) -> str:
    if value not in Choice.values:
        raise RetentionError(
            "choose whether its unlinked mail is kept or removed: nothing was changed"
        )
    return value


def _record(choice: str, trigger: str, mailbox: Mailbox, user) -> RetentionRun:
    plan = unlinked_mail(mailbox)
    said = f"{plan.copies} email(s), {human_bytes(plan.bytes)}"
    if choice == Choice.REMOVE:
        return request_run(
            trigger, user=user, mailbox=mailbox, all_unlinked=True,
            note=f"{mailbox.address}: remove its unlinked mail ({said})",
        )  # fmt: skip
    rule = rule_for(mailbox)
    return RetentionRun.objects.create(
        trigger=trigger,
        state=RetentionRun.State.DONE,
        requested_by=user if user is not None and user.is_authenticated else None,
        mailbox=mailbox,
        note=f"{mailbox.address}: keep its unlinked mail ({said}); its rule still applies: "
        f"{rule.label}",
        planned_copies=0,
        planned_bytes=0,
        started_at=timezone.now(),
        finished_at=timezone.now(),
    )


def sync_is_on(mailbox: Mailbox) -> bool:
    return mailbox.folders.exclude(name__in=LOCAL_FOLDERS).filter(is_synced=True).exists()


@transaction.atomic
def do_stop_sync(mailbox: Mailbox, choice: str, *, acting_user) -> RetentionRun:
    """Switch sync off for every folder of the mailbox, and keep or remove its unlinked
    mail as chosen (the caller showed what that is; no choice changes nothing)."""
    choice = _choice(choice)
    names = list(mailbox.folders.exclude(name__in=LOCAL_FOLDERS).values_list("name", flat=True))
    do_choose_folders(mailbox, stop=names)
    run = _record(choice, RetentionRun.Trigger.SYNC_OFF, mailbox, acting_user)
    logger.info("sync of %s switched off by %s; unlinked mail: %s", mailbox.address,
                getattr(acting_user, "pk", None), choice)  # fmt: skip
    return run


def personal_mailboxes_of(user):
    return Mailbox.objects.filter(kind=Mailbox.Kind.PERSONAL, owner=user).order_by("address")


@transaction.atomic
def do_deactivate_user(person, choice: str, *, acting_user) -> list[RetentionRun]:
    """Deactivate an account: its personal mailboxes stop syncing, and their unlinked
    mail is kept or removed as chosen."""
    choice = _choice(choice)
    try:
        deactivate(person, acting_user=acting_user)  # the accounts app's own checks
    except UserError as exc:
        raise RetentionError(str(exc)) from None
    runs = []
    for mailbox in personal_mailboxes_of(person):
        names = list(mailbox.folders.exclude(name__in=LOCAL_FOLDERS).values_list("name", flat=True))
        do_choose_folders(mailbox, stop=names)
        runs.append(_record(choice, RetentionRun.Trigger.DEACTIVATED, mailbox, acting_user))
    logger.info("account %s deactivated by %s; unlinked mail of its %s mailbox(es): %s",
                person.pk, getattr(acting_user, "pk", None), len(runs), choice)  # fmt: skip
    return runs


# ------------------------------------------------------------------------- tasks


def task_mail(task: Task) -> list[int]:
    """The emails bound to the task: those of the conversations its clocks are on."""
    conversations = SlaClock.objects.filter(task=task).values("conversation_id")
    return sorted(
        set(
            ConversationMessage.objects.filter(conversation_id__in=conversations).values_list(
                "message_id", flat=True
            )
        )
    )


def mail_bound_only_to(task: Task) -> list[int]:
    """Those of the task's emails no CRM item and no other task holds."""
    ids = task_mail(task)
    on_items = set(
        TimelineEntry.objects.filter(activity__message_id__in=ids).values_list(
            "activity__message_id", flat=True
        )
    )
    other_tasks = SlaClock.objects.filter(task__isnull=False).exclude(task=task)
    on_other_tasks = set(
        ConversationMessage.objects.filter(
            message_id__in=ids, conversation_id__in=other_tasks.values("conversation_id")
        ).values_list("message_id", flat=True)
    )
    return [pk for pk in ids if pk not in on_items and pk not in on_other_tasks]


def may_delete_task(user, task: Task) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser or user.pk in (task.responsible_id, task.created_by_id):
        return True
    item = task.item
    return item is not None and can_edit(user, item)


@transaction.atomic
def do_delete_task(task: Task, *, acting_user) -> RetentionRun | None:
    """Delete a task; the mail bound only to it goes with it (a run on the queue)."""
    if not may_delete_task(acting_user, task):
        raise RetentionError(
            f"You may not delete the task “{task.title}”: only its responsible person, its "
            "author or someone who may edit its item may."
        )
    only = mail_bound_only_to(task)
    title = task.title
    task.delete()  # its timeline entries go; its clocks forget it
    if not only:
        return None
    return request_run(
        RetentionRun.Trigger.TASK_DELETED, user=acting_user, message_ids=only,
        note=f"task “{title}” deleted with the {len(only)} email(s) bound only to it",
    )  # fmt: skip
