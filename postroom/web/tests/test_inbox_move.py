"""Moving conversations to another mailbox from the inbox's bulk actions and from the
conversation page; the new mailbox's readers then read its emails (issue 14, point 1)."""

import pytest
from django.urls import reverse

from postroom.mail.models import Conversation, ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.tests.conftest import receive
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

Level = MailboxGrant.Level


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test", imap_host="")


@pytest.fixture
def support():
    return MailboxFactory(name="Support", address="support@acme.test", imap_host="")


@pytest.fixture
def alice(sales, support):
    user = UserFactory(username="alice", first_name="Alice")
    do_grant_mailbox(sales, user, Level.REPLY)
    do_grant_mailbox(support, user, Level.REPLY)
    return user


def _asked(mailbox, n: int = 0):
    message = receive(
        mailbox,
        sender="anna@customer.test",
        subject=f"Wobbly chair {n}",
        message_id=f"<wobble{n}@customer.test>",
        body="The chair wobbles.",
    )
    return message, ConversationMessage.objects.get(message=message).conversation


def test_the_inbox_moves_the_ticked_conversations(sales, support, alice):
    chosen = [_asked(sales, n)[1] for n in range(2)]
    left = _asked(sales, 9)[1]
    client = logged_in(alice)
    page = client.get(reverse("web:inbox")).content.decode()
    assert '<select name="to_mailbox">' in page and 'value="move"' in page
    response = client.post(
        reverse("web:inbox_bulk"),
        {
            "action": "move",
            "to_mailbox": support.pk,
            "conversation": [c.pk for c in chosen],
            "next": reverse("web:inbox"),
        },
        follow=True,
    )
    assert "2 conversations changed." in response.content.decode()
    assert set(Conversation.objects.filter(mailbox=support)) == set(chosen)
    left.refresh_from_db()
    assert left.mailbox == sales


def test_the_bulk_move_refuses_a_mailbox_one_may_not_reply_from(sales, support):
    only_reads_support = UserFactory(username="rita")
    do_grant_mailbox(sales, only_reads_support, Level.REPLY)
    do_grant_mailbox(support, only_reads_support, Level.READ)
    conversation = _asked(sales)[1]
    client = logged_in(only_reads_support)
    page = client.get(reverse("web:inbox")).content.decode()
    assert 'value="move"' not in page  # sales is the only mailbox she may move into
    response = client.post(
        reverse("web:inbox_bulk"),
        {"action": "move", "to_mailbox": support.pk, "conversation": [conversation.pk]},
        follow=True,
    )
    assert "choose the mailbox to move it to" in response.content.decode()
    conversation.refresh_from_db()
    assert conversation.mailbox == sales


def test_the_conversation_page_moves_it_and_its_history_says_so(sales, support, alice):
    conversation = _asked(sales)[1]
    client = logged_in(alice)
    url = reverse("web:conversation", args=[conversation.pk])
    page = client.get(url).content.decode()
    assert "Move to" in page and "Support &lt;support@acme.test&gt;" in page
    response = client.post(
        reverse("web:conversation_action", args=[conversation.pk]),
        {"action": "move", "to_mailbox": support.pk},
        follow=True,
    )
    text = response.content.decode()
    assert "Moved to support@acme.test." in text
    assert "moved it from sales@acme.test to support@acme.test" in text
    conversation.refresh_from_db()
    assert conversation.mailbox == support
    # Only Sales is left to move it (back) to.
    assert (
        "Sales &lt;sales@acme.test&gt;" in text
        and "Support &lt;support@acme.test&gt;"
        not in (text.split('name="to_mailbox"')[1].split("</select>")[0])
    )


def test_the_new_mailboxs_readers_read_its_emails_others_still_do_not(sales, support, alice):
    message, conversation = _asked(sales)
    support_reader = UserFactory(username="sam")
    do_grant_mailbox(support, support_reader, Level.READ)
    stranger = UserFactory(username="stan")
    do_grant_mailbox(MailboxFactory(imap_host=""), stranger, Level.REPLY)
    body = reverse("web:message_body", args=[message.pk])
    page = reverse("web:conversation", args=[conversation.pk])
    assert logged_in(support_reader).get(body).status_code == 404
    logged_in(alice).post(
        reverse("web:conversation_action", args=[conversation.pk]),
        {"action": "move", "to_mailbox": support.pk},
    )
    reader = logged_in(support_reader)
    assert reader.get(page).status_code == 200
    response = reader.get(body)
    assert response.status_code == 200 and "The chair wobbles." in response.content.decode()
    assert logged_in(stranger).get(body).status_code == 404
    assert logged_in(stranger).get(page).status_code == 404
