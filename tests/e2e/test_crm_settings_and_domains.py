"""In a real browser, as an administrator and a colleague meet them:
- the CRM settings page, pre-filled with the mailboxes' domain, where an administrator
  adds a sister company's domain (whose people are then colleagues, never leads) and
  puts support@ before sales@;
- the contact form: a contact made by hand at a company's domain joins that company;
  with the option off, its page offers the company instead, and one click joins it."""

import os
from pathlib import Path

import pytest

from postroom.crm.capture import capture_message
from postroom.crm.models import Contact, Lead
from postroom.testing.factories import CompanyDomainFactory, MailboxFactory, UserFactory
from postroom.testing.mail import ingested, make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("POSTROOM_SCREENSHOTS", "/tmp/postroom-shots"))


def _shot(page, name: str) -> None:
    """The page at desktop and phone width (looked at by hand; nothing is asserted)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_administrator_sets_internal_domains_and_precedence(live_server, page):
    UserFactory(username="boss", is_superuser=True, email="boss@acme.test")
    sales = MailboxFactory(address="sales@acme.test", name="Sales", crm_rule="lead")
    support = MailboxFactory(address="support@acme.test", name="Support", crm_rule="contact-deal")

    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/crm/", "boss")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    page.click("summary:has-text('CRM')")
    page.click(".crm-menu >> text=Settings…")
    domains = page.locator("textarea[name=internal_domains]")
    assert domains.input_value().split() == ["acme.test"], "pre-filled from the mailboxes"
    assert page.locator("text=Not saved yet").is_visible()

    domains.fill("acme.test\nacme-group.test")
    page.fill(f"input[name=precedence_{support.pk}]", "10")
    page.fill(f"input[name=precedence_{sales.pk}]", "20")
    page.click("form.crm-settings-form button[type=submit]")
    page.wait_for_selector("text=Saved the CRM settings.")
    assert page.locator("textarea[name=internal_domains]").input_value().split() == [
        "acme-group.test",
        "acme.test",
    ]
    rows = page.locator("table.precedence-rows tbody tr").all_inner_texts()
    assert [r.split()[0] for r in rows] == ["Support", "Sales"], "listed in precedence order"
    _shot(page, "crm-settings")

    # A colleague of the sister company, with no account, writes to sales@: not a lead.
    raw = make_email(sender="Greta <greta@acme-group.test>", to="sales@acme.test")
    result = capture_message(ingested(sales, raw), sales)
    assert result.direction == "out" and not Lead.objects.exists()

    # A bad domain is named on the page, nothing saved.
    page.fill("textarea[name=internal_domains]", "acme.test\nnot a domain")
    page.click("form.crm-settings-form button[type=submit]")
    page.wait_for_selector("text=is not a mail domain")


def test_a_colleague_who_is_not_an_administrator_is_refused_the_settings(live_server, page):
    UserFactory(username="carol")
    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/crm/settings/", "carol")
    page.wait_for_selector("text=Only an administrator may change the organisation's CRM settings")
    assert page.locator("textarea[name=internal_domains]").count() == 0


def test_a_contact_made_by_hand_joins_or_is_offered_the_company_of_its_domain(live_server, page):
    UserFactory(username="boss", is_superuser=True)
    company = CompanyDomainFactory(domain="customer.test", company__name="Customer Ltd").company

    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/contacts/new/", "boss")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    page.fill("input[name=name]", "Anna Client")
    page.fill("textarea[name=emails]", "anna@customer.test")
    page.click("form.crm-form button[type=submit]")
    page.wait_for_selector("dl.fields >> text=Customer Ltd")
    assert Contact.objects.get(name="Anna Client").company == company
    assert page.locator("text=Joined Customer Ltd by the mail domain customer.test").count()

    # The option off: the company is offered, not joined.
    page.goto(f"{live_server.url}/crm/settings/")
    page.uncheck("input[name=join_company_by_domain]")
    page.click("form.crm-settings-form button[type=submit]")
    page.wait_for_selector("text=Saved the CRM settings.")
    page.goto(f"{live_server.url}/contacts/new/")
    page.fill("input[name=name]", "Bert Client")
    page.fill("textarea[name=emails]", "bert@customer.test")
    page.click("form.crm-form button[type=submit]")
    offer = page.locator("form.company-offer")
    offer.wait_for()
    assert "customer.test is a mail domain of Customer Ltd" in offer.inner_text()
    assert Contact.objects.get(name="Bert Client").company is None
    _shot(page, "contact-company-offer")

    offer.locator("button", has_text="Join Customer Ltd").click()
    page.wait_for_selector("text=Bert Client joined Customer Ltd.")
    assert page.locator("form.company-offer").count() == 0
    assert Contact.objects.get(name="Bert Client").company == company
