"""An item page reads a fixed number of queries however long its timeline: the emails and
people on it are read with only the columns the page shows (crm_timeline.MESSAGE_SHOWN,
PERSON_SHOWN), so a field the page starts to show without being added there costs a
query per row, and this test says so."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.actions import (
    do_add_comment,
    do_bind_activity,
    do_create_task,
    do_record_email_activity,
)
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing.factories import ContactFactory, MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def alice(sales):
    user = UserFactory(username="alice", first_name="Alice", last_name="Smith")
    do_give_default_roles(user)
    do_grant_mailbox(sales, user)
    return user


def _emails(sales, contact, alice, count: int, start: int = 0) -> None:
    """Incoming and outgoing emails (by Alice) on the contact, each in a conversation,
    with a comment and a task of hers between them."""
    for n in range(start, start + count):
        copy = store_copy(
            sales.folders.get(),
            1,
            FetchedMessage(uid=n + 1, raw=make_email(subject=f"Chairs {n}", body=f"Body {n}")),
        )
        message = parse_stored(copy.message)
        thread_message(message, sales)
        outgoing = n % 2 == 1
        activity = do_record_email_activity(
            message, direction="out" if outgoing else "in", responsible=alice if outgoing else None
        )
        do_bind_activity(activity, contact)
        do_add_comment(contact, f"Called them {n}", user=alice)
        do_create_task(f"Follow up {n}", item=contact, responsible=alice, user=alice)


def _queries(client, contact) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("web:contact", args=[contact.pk]))
    assert response.status_code == 200
    return len(captured.captured_queries), response.content.decode()


def test_a_contact_page_costs_the_same_queries_for_2_or_12_emails(sales, alice):
    contact = ContactFactory(name="Anna", responsible=alice)
    client = logged_in(alice)
    _emails(sales, contact, alice, 2)
    few, _ = _queries(client, contact)
    _emails(sales, contact, alice, 10, start=2)
    many, page = _queries(client, contact)
    assert many == few
    # What the rows show is there: snippets, senders, the link, who sent and commented.
    assert "Body 11" in page and "Body 0" in page
    assert "anna@customer.test" in page or "Anna Client" in page
    assert "Outgoing email by Alice Smith" in page and "Called them 11" in page
    assert "/conversations/" in page
