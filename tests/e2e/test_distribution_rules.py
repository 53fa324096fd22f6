"""In Chromium: a mailbox's manager edits its distribution rules (a bad regular
expression is refused with the reason, a keyword rule and a round-robin are added,
reordered and one disabled), asks "Who would get this?" of a real email, then the next
VIP email delivered through Dovecot goes to the rule's person."""

import re

import pytest

from postroom import jobs
from postroom.crm.models import Lead
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.models import DistributionRule, RuleTurn
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _arrive(dovecot, mailbox, **email) -> None:
    dovecot.deliver(make_email(to=mailbox.address, **email), to=mailbox.address)
    sync_mailbox(mailbox)
    jobs.drain_embedded_queue()


def test_a_manager_edits_the_rules_and_asks_who_would_get_an_email(
    dovecot, dovecot_mailbox, live_server, page
):
    sales = dovecot_mailbox
    mia = UserFactory(username="mia")
    sam = UserFactory(username="sam", first_name="Sam", last_name="Senior")
    do_grant_mailbox(sales, mia, MailboxGrant.Level.MANAGE)
    do_grant_mailbox(sales, sam, MailboxGrant.Level.READ)
    _arrive(dovecot, sales, sender="Vera <vera@bigclient.test>", subject="VIP: 400 chairs")

    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    log_in(page, f"{live_server.url}/mailboxes/{sales.pk}/settings/", "mia")
    page.click("text=Distribution rules")
    page.click("text=Add a rule")

    # A regular expression that does not compile is refused, saying why.
    page.select_option("select[name=kind]", "keyword")
    page.fill("textarea[name=keywords]", "(VIP")
    page.check("input[name=is_regex]")
    page.select_option("select[name=target_user]", str(sam.pk))
    page.click("form.rule-form button[type=submit]")
    page.wait_for_selector("text=is not a valid regular expression")
    assert not DistributionRule.objects.exists()

    page.fill("textarea[name=keywords]", "VIP")
    page.uncheck("input[name=is_regex]")
    page.fill("input[name=name]", "VIPs to Sam")
    page.click("form.rule-form button[type=submit]")
    page.wait_for_selector("table.rules >> text=VIPs to Sam")

    page.click("text=Add a rule")
    page.select_option("select[name=kind]", "round-robin")
    page.check(f"input[name=queue_users][value='{mia.pk}']")
    page.fill("input[name=name]", "Everyone in turn")
    page.click("form.rule-form button[type=submit]")
    page.wait_for_selector("table.rules >> text=Everyone in turn")

    # Round-robin first: it takes every email, the VIP rule never gets one.
    page.click("tr:has-text('Everyone in turn') >> text=Up")
    page.wait_for_function(
        "document.querySelector('table.rules tbody tr.rule').innerText.includes('Everyone')"
    )
    assert [r.name for r in DistributionRule.objects.order_by("position")] == [
        "Everyone in turn",
        "VIPs to Sam",
    ]
    page.select_option("select[name=recent]", index=1)
    page.click("form.who-would button[type=submit]")
    decision = page.locator(".decision")
    decision.wait_for()
    assert "by rule “Everyone in turn”" in decision.inner_text()

    # Disabled, the VIP rule decides, and says why; nothing was assigned by asking.
    page.click("tr:has-text('Everyone in turn') >> text=Disable")
    page.wait_for_selector("tr:has-text('Everyone in turn') >> text=disabled")
    page.select_option("select[name=recent]", index=1)
    page.click("form.who-would button[type=submit]")
    decision = page.locator(".decision")
    decision.wait_for()
    text = decision.inner_text()
    assert "Sam Senior" in text and "by rule “VIPs to Sam”" in text
    assert re.search(r"“VIP” in the subject", text)
    assert RuleTurn.objects.get(rule__name="Everyone in turn").turns == 0

    # The next VIP email is Sam's, with its lead.
    _arrive(dovecot, sales, sender="Walt <walt@vip.test>", subject="VIP order")
    conversation = Conversation.objects.get(mailbox=sales, subject="VIP order")
    assert conversation.responsible == sam
    assert Lead.objects.get(email="walt@vip.test").responsible == sam
