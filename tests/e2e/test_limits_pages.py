"""In Chromium: an administrator sets limits on the Limits page; a colleague meets them
where they act (connecting a personal mailbox, writing an email), told the limit and
who can change it; every page fits a phone's width."""

import pytest

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.limits import current
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fits(page, name: str) -> None:
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow} px too wide at {width} px"
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_administrator_sets_limits_and_a_colleague_meets_them(live_server, browser):
    UserFactory(username="ada", is_superuser=True)
    bob = UserFactory(username="bob")
    sales = MailboxFactory(
        address="sales@acme.test", name="Sales", smtp_host="127.0.0.1", smtp_port=2525,
        smtp_security="none",
    )  # fmt: skip
    do_grant_mailbox(sales, bob, MailboxGrant.Level.REPLY)

    admin, page = browser.new_page(), browser.new_page()  # two people, two contexts
    try:
        _set_and_meet(live_server, admin, page, sales)
    finally:
        admin.close()
        page.close()


def _set_and_meet(live_server, admin, page, sales) -> None:
    log_in(admin, f"{live_server.url}/storage/", "ada")
    admin.click("nav.subnav >> text=Limits")
    admin.wait_for_url("**/limits/")
    admin.fill("input[name=personal_per_user]", "0")
    admin.fill("input[name=initial_days_max]", "14")
    admin.fill("input[name=monthly_outgoing]", "0")
    admin.click("button:has-text('Save')")
    admin.wait_for_url("**/limits/")
    assert "Limits saved." in admin.inner_text("main")
    assert admin.locator("[data-quota-reached]").is_visible()
    _fits(admin, "limits")
    row = current()
    assert (row.personal_per_user, row.initial_days_max, row.monthly_outgoing) == (0, 14, 0)

    log_in(page, f"{live_server.url}/me/mailboxes/connect/", "bob")
    notice = page.inner_text("[data-limit-reached]")
    assert "the most allowed per person (0)" in notice
    assert "your administrator can change it on the Limits page" in notice
    assert page.locator("button:has-text('Connect')").is_disabled()
    assert "At most 14 days: the limit your administrator set." in page.inner_text("form.connect")
    _fits(page, "connect")

    page.goto(f"{live_server.url}/mailboxes/{sales.pk}/compose/")
    said = page.inner_text("[data-quota-reached]")
    assert "monthly quota of 0 emails is used up" in said
    assert "Your administrator can change it on the Limits page." in said
    _fits(page, "compose")
