"""In a real browser: an administrator invites a colleague, who chooses a password
through the one-time link and logs in; deactivating someone shows what they held.
Refusals are pages in the site's layout; the search filters offer what a user can use."""

import re

import pytest
from django.contrib.auth import get_user_model

from postroom.mailboxes import personal
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.sync.ingress import ingress_folder
from postroom.testing.factories import (
    ConversationFactory,
    DepartmentFactory,
    MailboxFactory,
    UserFactory,
)
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_administrator_invites_a_colleague_who_sets_a_password_and_logs_in(
    live_server, page, browser
):
    UserFactory(username="boss", is_superuser=True)
    DepartmentFactory(name="Support")
    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine

    log_in(page, f"{live_server.url}/people/", "boss")
    page.click("text=Add or invite a person")
    page.fill("input[name=first_name]", "Clara")
    page.fill("input[name=last_name]", "Novak")
    page.fill("input[name=email]", "clara@acme.test")
    page.check("label:has-text('Support') >> input")
    page.check("input[name=how][value=invite]")
    page.click("form.card button[type=submit]")
    link = page.input_value("[data-invitation-link]")
    assert link.startswith(live_server.url + "/invitation/")

    # The colleague, in a browser of their own.
    colleague = browser.new_context().new_page()
    colleague.set_default_timeout(60_000)
    colleague.goto(link)
    assert "Welcome to Postroom, Clara Novak" in colleague.inner_text("h1")
    colleague.fill("input[name=new_password1]", "Quiet-harbour-19")
    colleague.fill("input[name=new_password2]", "Quiet-harbour-19")
    colleague.click("button:has-text('Set my password')")
    colleague.wait_for_url(re.compile(r"/login/"))
    assert "Your password is set" in colleague.inner_text("main")
    colleague.fill("input[name=username]", "clara")
    colleague.fill("input[name=password]", "Quiet-harbour-19")
    colleague.click("button[type=submit]")
    colleague.wait_for_url(re.compile(r"/inbox/"))
    assert colleague.inner_text("a.who") == "clara"

    # The link worked once.
    colleague.goto(link)
    assert "already used" in colleague.inner_text("main")

    clara = get_user_model().objects.get(username="clara")
    assert [r.name for r in clara.roles.all()] == ["Manager"]
    page.goto(f"{live_server.url}/people/")
    row = page.inner_text(f"#user-{clara.pk}")
    assert "Clara Novak" in row and "Manager" in row and "Support" in row
    assert "invited" not in row


def test_deactivating_shows_what_the_person_held(live_server, page):
    UserFactory(username="boss", is_superuser=True)
    bob = UserFactory(username="bob", first_name="Bob", last_name="Seller")
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    do_grant_mailbox(sales, bob, MailboxGrant.Level.REPLY)
    conversation = ConversationFactory(
        mailbox=sales, responsible=bob, subject="Offer for 40 chairs"
    )
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/people/{bob.pk}/", "boss")
    page.once("dialog", lambda dialog: dialog.accept())  # "Deactivate Bob Seller?"
    page.click("button:has-text('Deactivate')")
    page.wait_for_selector("text=Bob Seller is deactivated")
    held = page.inner_text("[data-holdings]")
    assert "Reply access to sales@acme.test" in held
    assert "responsible for 1 open conversation" in held

    # Where what he holds appears, he is named as deactivated.
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    assert "Bob Seller (deactivated)" in page.inner_text(".responsible")
    page.goto(f"{live_server.url}/mailboxes/{sales.pk}/access/")
    assert "Bob Seller (deactivated)" in page.inner_text("main")

    page.goto(f"{live_server.url}/people/{bob.pk}/")
    page.click("button:has-text('Reactivate')")
    page.wait_for_selector("text=Bob Seller may log in again")


def test_refusals_are_pages_in_the_sites_layout(live_server, page):
    hr = MailboxFactory(name="HR", address="hr@acme.test")
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    rita = UserFactory(username="rita")
    do_grant_mailbox(sales, rita, MailboxGrant.Level.READ)
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/mailboxes/{hr.pk}/", "rita")
    assert page.inner_text("h1") == "Not found"
    assert page.is_visible("header.top nav >> text=Inbox"), "the site's own layout"
    assert "hr@acme.test" not in page.content()

    page.goto(f"{live_server.url}/mailboxes/{sales.pk}/settings/")
    assert page.inner_text("h1") == "Not allowed"
    assert "manage right on sales@acme.test" in page.inner_text("[data-refusal-reason]")
    assert page.is_visible("header.top nav >> text=Inbox")


def test_the_search_filters_offer_only_what_the_user_can_use(live_server, page):
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    sales = MailboxFactory(name="Sales", address="sales@acme.test")
    Folder.objects.create(mailbox=sales, name="Never synced", is_synced=False)
    for user in (alice, bob):
        do_grant_mailbox(sales, user)
    ingress_folder(personal.tracker_for(alice).mailbox_id, sent=True)
    personal.tracker_for(bob)
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/search/", "alice")
    mailboxes = page.locator("select[name=mailbox] option").all_inner_texts()
    folders = page.locator("select[name=folder] option").all_inner_texts()
    tracker = "Your BCC tracker (mail you sent with it in BCC)"
    assert sorted(mailboxes) == sorted(["All mailboxes", "Sales <sales@acme.test>", tracker])
    assert "Sales: INBOX" in folders and "Your BCC tracker" in folders
    assert "Sales: Never synced" not in folders
    assert not any("track-" in option for option in mailboxes + folders)
