"""Hostile emails on the conversation page: HTML too complex for the sanitiser is shown
as text with the reason, a 30 MB text makes a small page with "Show all", and nobody
without access reads either."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.testing import hostile
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import ingested
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


@pytest.fixture
def reader(mailbox):
    user = UserFactory()
    do_grant_mailbox(mailbox, user)
    return logged_in(user)


def _conversation_url(message) -> str:
    link = message.conversationmessage_set.get()
    return reverse("web:conversation", args=[link.conversation_id])


def test_deeply_nested_html_is_shown_as_text_with_the_reason(mailbox, reader):
    message = ingested(mailbox, hostile.deep_nesting())
    page = reader.get(_conversation_url(message)).content.decode()
    assert "too complex to display" in page
    assert "elements nested more than 1,000 deep" in page
    assert "deep inside" in page
    assert 'class="message-frame"' not in page  # no sanitiser behind an iframe


def test_the_body_document_of_too_complex_html_is_its_text(mailbox, reader):
    message = ingested(mailbox, hostile.many_attributes(scale=60_000))  # under 1 MB
    response = reader.get(reverse("web:message_body", args=[message.pk]))
    assert response.status_code == 200
    assert "hello" in response.content.decode()


def test_a_thirty_megabyte_text_makes_a_small_page_with_show_all(mailbox, reader):
    message = ingested(mailbox, hostile.huge_text())
    response = reader.get(_conversation_url(message))
    assert len(response.content) < 1_000_000
    page = response.content.decode()
    assert "Only the first part of this email is shown" in page
    assert reverse("web:message_text", args=[message.pk]) in page


def test_show_all_serves_the_whole_text_from_the_raw_copy_as_plain_text(mailbox, reader):
    message = ingested(mailbox, hostile.huge_text(scale=3_000_000))
    response = reader.get(reverse("web:message_text", args=[message.pk]))
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "sandbox" in response["Content-Security-Policy"]
    assert len(response.content) > len(message.text_body.encode())


def test_show_all_is_not_for_those_who_may_not_read_the_mailbox(mailbox):
    message = ingested(mailbox, hostile.huge_text(scale=100_000))
    stranger = logged_in(UserFactory())
    assert stranger.get(reverse("web:message_text", args=[message.pk])).status_code == 404
