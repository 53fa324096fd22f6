import pytest
from django.urls import reverse

from postroom.accounts.models import Role
from postroom.crm.actions import do_create_lead_from_message
from postroom.crm.models import Lead
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


@pytest.fixture
def message(mailbox):
    copy = store_copy(
        mailbox.folders.get(),
        1,
        FetchedMessage(uid=1, raw=make_email(subject="Chairs <b>now</b>", body="Call me")),
    )
    return parse_stored(copy.message)


@pytest.fixture
def reader(client, mailbox):
    user = UserFactory()
    do_grant_mailbox(mailbox, user)
    client.force_login(user)
    return user


def test_the_login_page_renders(client):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Log in to Postroom" in response.content


def test_pages_need_a_login(client, mailbox):
    response = client.get(reverse("web:mailbox", args=[mailbox.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_a_user_sees_only_granted_mailboxes(client, reader, mailbox):
    MailboxFactory(name="Hidden HR")
    response = client.get(reverse("web:mailboxes"))
    assert b"Sales" in response.content
    assert b"Hidden HR" not in response.content


def test_the_conversation_list_shows_unread_conversations(client, reader, mailbox, message):
    thread_message(message, mailbox)
    response = client.get(reverse("web:mailbox", args=[mailbox.pk]))
    assert b"Chairs &lt;b&gt;now&lt;/b&gt;" in response.content  # escaped, never markup
    assert b'class="unread"' in response.content


def test_a_conversation_of_another_mailbox_is_not_found(client, reader, message):
    other = MailboxFactory()
    conversation = thread_message(message, other)
    response = client.get(reverse("web:conversation", args=[conversation.pk]))
    assert response.status_code == 404


def test_the_conversation_page_shows_the_three_times(client, reader, mailbox, message):
    conversation = thread_message(message, mailbox)
    response = client.get(reverse("web:conversation", args=[conversation.pk]))
    assert b"Call me" in response.content
    for label in (b"Sent (Date header)", b"Received by the server", b"In Postroom since"):
        assert label in response.content


def test_a_lead_page_shows_its_emails(client, reader, mailbox, message):
    # CRM access comes from roles (postroom/crm/access.py): a Manager reads their own leads.
    reader.roles.set(Role.objects.filter(name="Manager"))
    lead = do_create_lead_from_message(message, mailbox)
    Lead.objects.filter(pk=lead.pk).update(responsible=reader)
    response = client.get(reverse("web:lead", args=[lead.pk]))
    assert response.status_code == 200
    assert b"Incoming email" in response.content and b"Call me" in response.content


def test_a_lead_from_a_mailbox_without_a_grant_is_not_found(client, reader, message):
    lead = do_create_lead_from_message(message, MailboxFactory())
    assert client.get(reverse("web:lead", args=[lead.pk])).status_code == 404
    assert lead.title.encode() not in client.get(reverse("web:leads")).content
