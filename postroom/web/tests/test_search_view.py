import itertools
import re

import pytest
from django.urls import reverse

from postroom.mail.ingest import FetchedMessage, store_copy
from postroom.mail.models import Message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.pipeline import ingest
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in
from postroom.web import views

_uids = itertools.count(1)


def deliver(mailbox, *, seen: bool = False, **email) -> Message:
    copy = store_copy(
        mailbox.folders.get(name="INBOX"),
        1,
        FetchedMessage(uid=next(_uids), raw=make_email(**email), flags=("\\Seen",) if seen else ()),
    )
    ingest.call([copy.message_id], mailbox.pk)
    return Message.objects.get(pk=copy.message_id)


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales", address="sales@acme.test")


@pytest.fixture
def reader(client, mailbox):
    user = UserFactory(username="reader")
    do_grant_mailbox(mailbox, user)
    client.force_login(user)
    return user


def get(client, **params):
    response = client.get(reverse("web:search"), params)
    assert response.status_code == 200
    return response.content.decode()


def text(page: str) -> str:
    """The page as a reader sees it: without tags (highlights split the words' markup)."""
    return re.sub(r"<[^>]+>", "", page)


@pytest.mark.django_db
class TestSearchPage:
    def test_it_needs_a_login(self, client):
        response = client.get(reverse("web:search"), {"q": "chairs"})
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))

    def test_every_page_has_a_search_box(self, client, reader):
        page = client.get(reverse("web:mailboxes")).content.decode()
        assert f'action="{reverse("web:search")}"' in page
        assert 'name="q"' in page

    def test_without_words_or_filters_it_shows_only_the_form(self, client, reader, mailbox):
        deliver(mailbox, subject="Chairs")
        page = get(client)
        assert 'class="card search-form"' in page
        assert "Chairs" not in page and "message" not in page.split("</form>")[-1]

    def test_it_lists_matches_linked_to_their_conversation(self, client, reader, mailbox):
        message = deliver(
            mailbox,
            subject="Price request",
            body="What do the chairs cost?",
            sender="Anna <a@c.test>",
        )
        conversation = message.conversationmessage_set.get().conversation
        page = get(client, q="chairs")
        assert "1 message" in page
        assert f'href="{reverse("web:conversation", args=[conversation.pk])}"' in page
        assert "<mark>chairs</mark>" in page
        assert "Anna" in page and "Sales" in page

    def test_it_escapes_html_in_subjects_and_snippets(self, client, reader, mailbox):
        deliver(
            mailbox,
            subject="<script>alert(1)</script> chairs",
            body='<img src=x onerror="alert(2)"> chairs <b>bold</b>',
            sender='"<i>Eve</i>" <eve@c.test>',
        )
        page = get(client, q="chairs alert")
        assert "<script>alert(1)" not in page
        assert "<img src=x" not in page and "<b>bold" not in page and "<i>Eve" not in page
        assert "&lt;script&gt;<mark>alert</mark>(1)&lt;/script&gt; <mark>chairs</mark>" in page
        assert "&lt;img src=x onerror=&quot;<mark>alert</mark>(2)&quot;&gt;" in page
        assert "&lt;i&gt;Eve&lt;/i&gt;" in page

    def test_it_escapes_the_query_it_shows_back(self, client, reader):
        page = get(client, q='"><script>alert(1)</script>')
        assert "<script>alert(1)" not in page
        assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page

    def test_a_mailbox_without_a_grant_is_not_a_choice(self, client, reader):
        hidden = MailboxFactory(name="HR")
        deliver(hidden, subject="Salary chairs")
        page = get(client, q="chairs", mailbox=hidden.pk)
        assert "Select a valid choice" in page
        assert "Salary" not in page
        assert "Salary" not in get(client, q="salary")
        assert "0 messages" in get(client, q="salary")

    def test_it_applies_filters_from_the_query_string(self, client, reader, mailbox):
        deliver(mailbox, subject="chairs seen", seen=True)
        deliver(mailbox, subject="chairs new")
        page = text(get(client, q="chairs", status="unread", mailbox=mailbox.pk, order="newest"))
        assert "chairs new" in page and "chairs seen" not in page
        assert "chairs seen" in text(get(client, status="read"))

    def test_dates_are_whole_days(self, client, reader, mailbox):
        from datetime import UTC, datetime

        deliver(mailbox, subject="chairs", date=datetime(2024, 3, 10, 23, 30, tzinfo=UTC))
        assert "1 message" in get(client, q="chairs", since="2024-03-10", until="2024-03-10")
        assert "0 messages" in get(client, q="chairs", since="2024-03-11")

    def test_bad_parameters_are_form_errors_not_failures(self, client, reader):
        page = get(client, q="x", mailbox="abc", since="yesterday", status="evil", page="-3")
        assert page.count("<li>") >= 3

    @pytest.mark.parametrize("q", ['"', "AND OR (", "-", "NEAR(", "'", "\\", "a" * 600])
    def test_hostile_queries_render(self, client, reader, mailbox, q):
        deliver(mailbox, subject="chairs")
        get(client, q=q)

    def test_pages_keep_the_query_and_filters(self, client, reader, mailbox, monkeypatch):
        monkeypatch.setattr(views, "PAGE_SIZE", 2)
        for n in range(5):
            deliver(mailbox, subject=f"chairs {n}")
        page = get(client, q="chairs", mailbox=mailbox.pk)
        assert "5 messages, page 1 of 3" in page
        next_link = re.search(r'href="([^"]*)">Next', page).group(1).replace("&amp;", "&")
        assert "q=chairs" in next_link and f"mailbox={mailbox.pk}" in next_link
        assert "page=2" in next_link
        third = client.get(reverse("web:search") + next_link.replace("page=2", "page=3"))
        assert "page 3 of 3" in third.content.decode()


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_searching_from_the_header_works_without_javascript(browser, live_server):
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    do_grant_mailbox(mailbox, UserFactory(username="reader"))
    deliver(mailbox, subject="Offer for <b>red</b> chairs", body="Forty chairs, delivered.")
    deliver(mailbox, subject="Lunch", body="Pizza?")
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        log_in(page, f"{live_server.url}/mailboxes/", "reader")
        page.wait_for_url("**/mailboxes/")
        page.fill("header input[name=q]", "chairs")
        page.press("header input[name=q]", "Enter")
        page.wait_for_url("**/search/?q=chairs")
        results = page.locator("ol.results li")
        assert results.count() == 1
        assert results.locator("a.subject").inner_text() == "Offer for <b>red</b> chairs"
        assert results.locator("mark").first.inner_text() == "chairs"
        # The filters are a plain form too.
        page.select_option("select[name=order]", "newest")
        page.click("form.search-form button[type=submit]")
        page.wait_for_url("**order=newest**")
        results.locator("a.subject").click()
        page.wait_for_url("**/conversations/*/")
        assert "Forty chairs" in page.content()
    finally:
        context.close()
