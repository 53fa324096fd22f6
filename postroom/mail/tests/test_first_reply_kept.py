"""A conversation keeps its first reply (Conversation.first_reply_at/_seconds, what the
dashboard's first-reply time reads) whatever order its replies are recorded in; a
forward is no reply."""

from datetime import UTC, datetime, timedelta

import pytest

from postroom.mail.models import Conversation, ConversationEvent
from postroom.testing.factories import ConversationFactory

pytestmark = pytest.mark.django_db

ASKED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _reply(conversation, minutes: int, *, forward: bool = False) -> None:
    ConversationEvent.objects.create(
        conversation=conversation, kind="replied", created_at=ASKED + timedelta(minutes=minutes),
        detail={"waited_seconds": None if forward else minutes * 60, "forward": forward},
    )  # fmt: skip


def _first(conversation) -> tuple:
    kept = Conversation.objects.get(pk=conversation.pk)
    return kept.first_reply_at, kept.first_reply_seconds


def test_the_earliest_reply_is_kept_whatever_order_they_are_recorded_in():
    conversation = ConversationFactory()
    assert _first(conversation) == (None, None)
    _reply(conversation, 90)
    assert _first(conversation) == (ASKED + timedelta(minutes=90), 5400)
    _reply(conversation, 30)  # recorded later, sent earlier
    _reply(conversation, 120)
    assert _first(conversation) == (ASKED + timedelta(minutes=30), 1800)


def test_a_forward_is_not_a_first_reply_and_other_events_change_nothing():
    conversation = ConversationFactory()
    _reply(conversation, 10, forward=True)
    ConversationEvent.objects.create(conversation=conversation, kind="assigned")
    assert _first(conversation) == (None, None)
    _reply(conversation, 45)
    assert _first(conversation) == (ASKED + timedelta(minutes=45), 2700)
