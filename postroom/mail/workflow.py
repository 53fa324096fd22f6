"""The shared-inbox workflow: who is responsible for a conversation, its status, snooze,
comments with @mentions and the reply history.

Every change of a conversation's workflow goes through a `do_<verb>` function here, which
records a ConversationEvent (who, when, why) in the caller's transaction; views, jobs,
the API and the pipeline call these and nothing else writes the fields.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from postroom.accounts.actions import do_notify
from postroom.accounts.models import User

from .models import Conversation, ConversationEvent

logger = logging.getLogger(__name__)

Status = Conversation.Status
Kind = ConversationEvent.Kind


class WorkflowError(Exception):
    """A workflow change cannot be made as asked; the message says why."""


def conversation_url(conversation: Conversation) -> str:
    try:
        return reverse("web:conversation", args=[conversation.pk])
    except NoReverseMatch:  # pragma: no cover - the web app is always installed
        return ""


def _label(conversation: Conversation) -> str:
    return f"“{conversation.subject or '(no subject)'}”"


def _record(
    conversation: Conversation,
    kind: str,
    *,
    actor: User | None,
    user: User | None = None,
    **detail,
) -> ConversationEvent:
    return ConversationEvent.objects.create(
        conversation=conversation,
        kind=kind,
        actor=actor,
        user=user,
        detail={k: v for k, v in detail.items() if v not in (None, "")},
    )


# ------------------------------------------------------------------- responsibility


def do_assign(
    conversation: Conversation,
    responsible: User | None,
    *,
    acting_user: User | None = None,
    reason: str = "",
) -> bool:
    """Make `responsible` (None: nobody) the conversation's responsible person.

    Records who did it, when and why (`reason`, e.g. the rule that matched), and tells
    the new responsible person unless they assigned themselves. Returns whether anything
    changed. Runs in the caller's transaction (a savepoint of it).
    """
    new_id = responsible.pk if responsible is not None else None
    with transaction.atomic():
        # The row as it is now, locked (PostgreSQL) so two assignments queue up.
        current = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation.pk)
            .values_list("responsible_id", flat=True)
            .first()
        )
        if current == new_id:
            conversation.responsible = responsible
            return False
        Conversation.objects.filter(pk=conversation.pk).update(responsible=responsible)
        conversation.responsible = responsible
        if responsible is None:
            _record(
                conversation, Kind.UNASSIGNED, actor=acting_user, reason=reason, previous=current
            )
            return True
        _record(
            conversation,
            Kind.ASSIGNED,
            actor=acting_user,
            user=responsible,
            reason=reason,
            previous=current,
        )
        if acting_user is None or acting_user.pk != responsible.pk:
            by = str(acting_user) if acting_user is not None else "Postroom"
            why = f" ({reason})" if reason else ""
            do_notify(
                [responsible],
                f"{by} made you responsible for {_label(conversation)} "
                f"in {conversation.mailbox.address}{why}",
                url=conversation_url(conversation),
            )
    logger.info(
        "conversation %s: responsible %s -> %s by %s%s",
        conversation.pk,
        current,
        new_id,
        acting_user.pk if acting_user else "postroom",
        f" ({reason})" if reason else "",
    )
    return True


def do_take(conversation: Conversation, user: User) -> bool:
    """ "Take it": the user makes themselves responsible."""
    return do_assign(conversation, user, acting_user=user, reason="took it")


def do_unassign(conversation: Conversation, *, acting_user: User | None = None) -> bool:
    return do_assign(conversation, None, acting_user=acting_user)


def now() -> datetime:
    return timezone.now()
