"""Password reset works only where Postroom can send email (the notifications' outgoing
server); otherwise the page says so and sends nothing."""

import re

import pytest
from django.urls import reverse

from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


@pytest.fixture
def mail_server(settings, smtp_server):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "NOTIFY_SMTP": f"smtp://{smtp_server.host}:{smtp_server.port}",
        "NOTIFY_FROM": "Postroom <postroom@acme.test>",
    }
    return smtp_server


def test_without_an_outgoing_server_the_page_says_so_and_sends_nothing(
    client, settings, alice, smtp_server
):
    settings.POSTROOM = {**settings.POSTROOM, "NOTIFY_SMTP": "", "NOTIFY_FROM": ""}
    page = client.get(reverse("password_reset"))
    assert page.status_code == 503
    assert b"Password reset is not available" in page.content
    assert b"POSTROOM_NOTIFY_SMTP" in page.content
    posted = client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert posted.status_code == 503
    assert smtp_server.messages == []


def test_it_sends_a_link_that_sets_a_new_password(client, alice, mail_server):
    page = client.get(reverse("password_reset"))
    assert page.status_code == 200 and b"Send the link" in page.content
    response = client.post(reverse("password_reset"), {"email": "alice@acme.test"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")

    [mail] = mail_server.messages
    assert mail.rcpt_tos == ["alice@acme.test"] and mail.mail_from == "postroom@acme.test"
    body = mail.message.get_content()
    link = re.search(r"http://testserver(/reset/\S+/)", body).group(1)
    form = client.get(link, follow=True)
    assert b"Set a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a new long passphrase", "new_password2": "a new long passphrase"},
    )
    assert done.status_code == 302 and done.url == reverse("password_reset_complete")
    alice.refresh_from_db()
    assert alice.check_password("a new long passphrase")
    # The link works once.
    assert b"does not work any more" in client.get(link, follow=True).content


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, alice, mail_server):
    response = client.post(reverse("password_reset"), {"email": "nobody@acme.test"})
    assert response.status_code == 302 and response.url == reverse("password_reset_done")
    assert mail_server.messages == []


def test_the_login_page_offers_it(client):
    assert reverse("password_reset").encode() in client.get(reverse("login")).content


def test_the_pages_have_postroom_look_not_the_admin_one(client, mail_server):
    page = client.get(reverse("password_reset")).content.decode()
    assert "web/postroom.css" in page and "Django administration" not in page
    assert (
        "web/postroom.css"
        in logged_in(UserFactory()).get(reverse("password_reset_done")).content.decode()
    )
