"""Conversations through the API: the list's filters and cursor, reading one, and the
workflow actions, each with the UI's rights."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from postroom.mail.models import Comment, Conversation, ConversationEvent
from postroom.mail.workflow import do_assign
from postroom.testing.factories import ConversationFactory, LeadFactory, MailboxFactory

from .conftest import token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def _ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [c["id"] for c in response.json()["items"]]


def test_it_lists_only_conversations_of_readable_mailboxes(sales, reader):
    mine = ConversationFactory(mailbox=sales)
    ConversationFactory(mailbox=MailboxFactory())  # another team's
    assert _ids(token_client(reader).get(URL)) == [mine.pk]


def test_the_cursor_walks_every_conversation_once_newest_first(sales, reader):
    now = timezone.now()
    made = [
        ConversationFactory(mailbox=sales, last_message_at=now - timedelta(minutes=i % 3))
        for i in range(7)
    ]
    api = token_client(reader)
    seen, cursor = [], None
    while True:
        response = api.get(URL, {"limit": 3, **({"cursor": cursor} if cursor else {})})
        seen += _ids(response)
        cursor = response.json()["next_cursor"]
        if not cursor:
            break
    expected = sorted(made, key=lambda c: (c.last_message_at, c.pk), reverse=True)
    assert seen == [c.pk for c in expected]


def test_it_filters_by_status_responsible_and_mailbox(sales, reader, replier):
    open_one = ConversationFactory(mailbox=sales)
    closed = ConversationFactory(mailbox=sales, status="closed")
    do_assign(open_one, replier)
    api = token_client(reader)
    assert _ids(api.get(URL, {"status": "closed"})) == [closed.pk]
    assert _ids(api.get(URL, {"responsible": replier.pk})) == [open_one.pk]
    assert _ids(api.get(URL, {"responsible": "none"})) == [closed.pk]
    assert sorted(_ids(api.get(URL, {"mailbox": sales.pk}))) == sorted([open_one.pk, closed.pk])
    other = MailboxFactory()
    refused = api.get(URL, {"mailbox": other.pk})
    assert refused.status_code == 404
    assert refused.json()["field"] == "mailbox"


def test_updated_since_finds_a_status_change_on_old_mail(sales, reader, replier):
    long_ago = timezone.now() - timedelta(days=30)
    old = ConversationFactory(mailbox=sales, last_message_at=long_ago)
    ConversationFactory(mailbox=sales, last_message_at=long_ago)
    since = timezone.now() - timedelta(minutes=1)
    token_client(replier).post(f"{URL}{old.pk}/status", {"status": "closed"})
    assert _ids(token_client(reader).get(URL, {"updated_since": since.isoformat()})) == [old.pk]


def test_a_crm_item_filter_needs_an_item_the_caller_may_read(sales, reader):
    lead = LeadFactory()
    response = token_client(reader).get(URL, {"crm_kind": "lead", "crm_id": lead.pk})
    assert response.status_code == 404  # rita has no CRM role
    assert response.json()["code"] == "not_found"


def test_a_malformed_cursor_is_a_422_naming_the_field(reader):
    response = token_client(reader).get(URL, {"cursor": "garbage!"})
    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid",
        "message": "not a cursor this API gave out",
        "field": "cursor",
    }


def test_reading_a_conversation_of_another_mailbox_is_a_404(sales, stranger):
    conversation = ConversationFactory(mailbox=sales)
    response = token_client(stranger).get(f"{URL}{conversation.pk}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_assigning_needs_the_reply_right_and_names_it(sales, reader, replier):
    conversation = ConversationFactory(mailbox=sales)
    refused = token_client(reader).post(
        f"{URL}{conversation.pk}/assign", {"responsible_id": replier.pk}
    )
    assert refused.status_code == 403
    assert "reply right" in refused.json()["message"]
    done = token_client(replier).post(
        f"{URL}{conversation.pk}/assign", {"responsible_id": replier.pk}
    )
    assert done.json() == {"changed": True}
    conversation.refresh_from_db()
    assert conversation.responsible == replier
    event = ConversationEvent.objects.get(conversation=conversation, kind="assigned")
    assert event.actor == replier


def test_someone_who_may_not_read_the_mailbox_cannot_be_made_responsible(sales, replier, stranger):
    conversation = ConversationFactory(mailbox=sales)
    response = token_client(replier).post(
        f"{URL}{conversation.pk}/assign", {"responsible_id": stranger.pk}
    )
    assert response.status_code == 422
    assert "may not read" in response.json()["message"]


def test_snooze_and_wake_go_through_the_workflow(sales, replier):
    conversation = ConversationFactory(mailbox=sales)
    api = token_client(replier)
    until = (timezone.now() + timedelta(hours=3)).isoformat()
    assert api.post(f"{URL}{conversation.pk}/snooze", {"until": until}).json()["changed"]
    conversation.refresh_from_db()
    assert conversation.snoozed_until is not None
    past = api.post(f"{URL}{conversation.pk}/snooze", {"until": "2001-01-01T00:00:00Z"})
    assert past.status_code == 422
    assert api.delete(f"{URL}{conversation.pk}/snooze").json() == {"changed": True}
    conversation.refresh_from_db()
    assert conversation.snoozed_until is None


def test_a_reader_may_comment_and_the_comment_is_listed(sales, reader):
    conversation = ConversationFactory(mailbox=sales)
    api = token_client(reader)
    made = api.post(f"{URL}{conversation.pk}/comments", {"body": "Call them back @rita"})
    assert made.status_code == 201
    assert Comment.objects.get(pk=made.json()["id"]).author == reader
    listed = api.get(f"{URL}{conversation.pk}/comments").json()
    assert [c["body"] for c in listed] == ["Call them back @rita"]
    empty = api.post(f"{URL}{conversation.pk}/comments", {"body": "   "})
    assert empty.status_code == 422
    assert empty.json()["field"] == "body"


def test_an_invalid_status_names_the_field(sales, replier):
    conversation = ConversationFactory(mailbox=sales)
    response = token_client(replier).post(f"{URL}{conversation.pk}/status", {"status": "gone"})
    assert response.status_code == 422
    assert response.json()["field"] == "status"
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.OPEN
