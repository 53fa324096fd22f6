"""POST /api/v1/conversations/{id}/move: mail.workflow.do_move_conversation with the
UI's rights (the reply right on both mailboxes)."""

import pytest

from postroom.mail.models import ConversationEvent
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import ConversationFactory, MailboxFactory

from .conftest import token_client

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations/"


def test_a_replier_on_both_mailboxes_moves_it(sales, replier):
    support = MailboxFactory(name="Support", address="support@acme.test")
    do_grant_mailbox(support, replier, MailboxGrant.Level.REPLY)
    conversation = ConversationFactory(mailbox=sales)
    api = token_client(replier)
    response = api.post(f"{URL}{conversation.pk}/move", {"mailbox_id": support.pk})
    assert response.status_code == 200 and response.json()["changed"], response.content
    conversation.refresh_from_db()
    assert conversation.mailbox == support
    assert conversation.events.get().kind == ConversationEvent.Kind.MOVED


def test_no_reply_right_on_the_target_is_refused_and_an_unknown_one_is_invalid(sales, replier):
    support = MailboxFactory(name="Support", address="support@acme.test")
    do_grant_mailbox(support, replier, MailboxGrant.Level.READ)
    conversation = ConversationFactory(mailbox=sales)
    api = token_client(replier)
    response = api.post(f"{URL}{conversation.pk}/move", {"mailbox_id": support.pk})
    assert response.status_code == 422
    assert "reply right on support@acme.test" in response.content.decode()
    hidden = MailboxFactory()
    response = api.post(f"{URL}{conversation.pk}/move", {"mailbox_id": hidden.pk})
    assert response.status_code == 422 and "no such mailbox" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.mailbox == sales
