"""A refusal says why, in the site's layout: a styled 404 for what the user may not see,
a styled 403 naming the missing right for what they may not do, each logged as one line."""

import logging

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db

LAYOUT = '<header class="top">'


def test_a_mailbox_the_user_may_not_read_is_a_styled_not_found_page(caplog):
    mailbox = MailboxFactory(address="hr@acme.test")
    client = logged_in(UserFactory())
    with caplog.at_level(logging.WARNING):
        response = client.get(reverse("web:mailbox", args=[mailbox.pk]))
    page = response.content.decode()
    assert response.status_code == 404
    assert LAYOUT in page and "<h1" in page and "Not found" in page
    assert "hr@acme.test" not in page, "nothing confirms that the mailbox exists"
    assert all(record.exc_info is None for record in caplog.records)


def test_an_unknown_address_is_the_same_styled_page():
    response = logged_in(UserFactory()).get("/no-such-page/")
    assert response.status_code == 404 and LAYOUT in response.content.decode()


def test_a_missing_right_is_a_styled_page_that_names_it_logged_as_one_line(caplog):
    mailbox = MailboxFactory(address="sales@acme.test")
    reader = UserFactory(username="rita")
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.READ)
    with caplog.at_level(logging.WARNING):
        response = logged_in(reader).get(reverse("web:mailbox_settings", args=[mailbox.pk]))
    page = response.content.decode()
    assert response.status_code == 403
    assert LAYOUT in page and "Not allowed" in page
    assert "This needs the manage right on sales@acme.test" in page
    refusals = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(refusals) == 1, [r.getMessage() for r in refusals]
    assert refusals[0].exc_info is None, "no traceback for a refusal"
    line = refusals[0].getMessage()
    assert "rita" in line and "manage right" in line and "\n" not in line


def test_an_administrators_page_names_the_administrator_right():
    response = logged_in(UserFactory()).get(reverse("web:people"))
    assert response.status_code == 403
    assert "Only administrators manage roles" in response.content.decode()
    assert LAYOUT in response.content.decode()


def test_a_script_gets_the_reason_as_text():
    response = logged_in(UserFactory()).get(
        reverse("web:people"), headers={"X-Requested-With": "fetch"}
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert "Only administrators" in response.content.decode()
