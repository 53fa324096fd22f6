"""Issue 19, point 8, as a new colleague meets it on their first day: with the default
role only and no mailbox yet, their Leads list, Inbox and Mailboxes page say there is
something they may not see (and who can change that), not "nothing here yet"; a
colleague in a company with nothing yet reads "here yet"."""

import pytest

from postroom.accounts.roles import do_give_default_roles
from postroom.testing.factories import LeadFactory, MailboxFactory, UserFactory
from postroom.testing.mail import ingested, make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _newcomer(username: str):
    user = UserFactory(username=username)
    do_give_default_roles(user)  # as every new user gets them (a flushed database too)
    return user


def test_a_newcomer_is_told_there_is_more_than_they_may_see(live_server, page):
    boss = UserFactory(username="boss", is_superuser=True)
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    ingested(sales, make_email(to=sales.address, subject="Chairs"))
    LeadFactory(title="Chairs for Berlin", responsible=boss)
    _newcomer("nina")
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/leads/", "nina")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    empty = page.locator("[data-empty]")
    assert empty.get_attribute("data-empty") == "unseen"
    assert "Nothing you may see: there are leads here" in empty.inner_text()
    assert "An administrator can change your roles" in empty.inner_text()
    assert page.locator("main", has_text="Chairs for Berlin").count() == 0

    page.goto(f"{live_server.url}/mailboxes/")
    assert "1 shared mailbox exists but you have no access" in page.inner_text(
        "[data-empty=unseen]"
    )
    # The inbox of someone who may read no mailbox at all is a page, not an error.
    page.goto(f"{live_server.url}/inbox/")
    assert "Other shared mailboxes hold mail" in page.inner_text("[data-empty=unseen]")


def test_a_company_with_nothing_yet_says_so(live_server, page):
    _newcomer("otto")
    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/leads/", "otto")
    page.wait_for_load_state("networkidle")
    assert page.inner_text("[data-empty]") == "Nothing here yet."
