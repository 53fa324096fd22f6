"""Putting a failed email right: send it again, or take it back as a draft to edit.

Offered to the email's author and to the managers of its mailbox. Either way the failure
notice the author got (delivery._fail) is withdrawn: it is no longer true. A Retry that
fails again tells them again.
"""

import logging

from django.db import transaction

from postroom.accounts.models import Notification

from .actions import OutboundError, can_manage, can_send_from, draft_from
from .delivery import failure_url
from .jobs import deliver_outbox
from .models import Draft, OutboxMessage

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


class FixError(OutboundError):
    """The email cannot be retried or edited now; the message says why."""


def can_fix(user, outbox: OutboxMessage) -> bool:
    """The author (while they may still send from the mailbox) or a manager of it."""
    if outbox.author_id == user.pk and can_send_from(user, outbox.mailbox):
        return True
    return can_manage(user, outbox.mailbox)


def can_edit(outbox: OutboxMessage) -> bool:
    """Whether it was written by a person (machine mail keeps no composition)."""
    return bool(outbox.composition)


def _failed_for(outbox_id: int, acting_user) -> OutboxMessage:
    outbox = (
        OutboxMessage.objects.select_for_update(of=("self",))
        .select_related("mailbox")
        .defer("raw")
        .filter(pk=outbox_id)
        .first()
    )
    if outbox is None:
        raise FixError("there is no such email")
    if not can_fix(acting_user, outbox):
        raise FixError("only its author and the managers of its mailbox may put it right")
    if outbox.status != Status.FAILED:
        raise FixError("this email has not failed: nothing to put right")
    return outbox


def _withdraw_notice(outbox: OutboxMessage) -> None:
    # The notice is the author's; its url names this email (failure_url).
    Notification.objects.filter(url=failure_url(outbox)).delete()


@transaction.atomic
def do_retry_send(outbox_id: int, *, acting_user) -> OutboxMessage:
    """Queue a failed email again, as it is, with a fresh count of attempts."""
    outbox = _failed_for(outbox_id, acting_user)
    outbox.status = Status.QUEUED
    outbox.attempts = 0
    outbox.next_attempt_at = None
    outbox.last_error = ""
    outbox.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    _withdraw_notice(outbox)
    # delivery_unknown stays: if the server may have taken it, the Sent folder is
    # searched before it is sent again.
    deliver_outbox.enqueue(outbox.pk)
    logger.info("outbox %s: retried by user %s", outbox.pk, acting_user.pk)
    return outbox


@transaction.atomic
def do_edit_failed_as_draft(outbox_id: int, *, acting_user) -> Draft:
    """Take a failed email back as a draft of the acting user, exactly as it was written
    (recipients, subject, text, attachments); the failed email leaves the Outbox."""
    outbox = _failed_for(outbox_id, acting_user)
    if not can_edit(outbox):
        raise FixError("this email was written by Postroom, not a person: retry it instead")
    draft = draft_from(outbox, acting_user)
    _withdraw_notice(outbox)
    outbox.delete()
    logger.info("outbox %s: taken back as draft %s by user %s", outbox_id, draft.pk, acting_user.pk)
    return draft
