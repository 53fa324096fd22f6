"""Issue 19, point 5, as a company meets it: a customer writes to sales@ (rule: lead) and
support@ (rule: contact and deal) in one email. The administrator has put support@
first on the CRM settings page (sales@, the older mailbox, would come first otherwise).
Both Dovecot mailboxes are synced, in either order: the email makes a contact and a
deal, never a lead, and the email's page says whose rule applied, from either mailbox."""

import pytest

from postroom import jobs
from postroom.crm.models import Contact, Deal, Lead
from postroom.mail.models import Conversation
from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox
from postroom.sync.service import sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _connect(dovecot, user, name: str, rule: str):
    return do_add_mailbox(
        ConnectionSettings(
            address=user.address,
            name=name,
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_security="none",
            username=user.username,
            password=user.password,
        ),
        crm_rule=rule,
    )


@pytest.mark.parametrize("first", ["sales", "support"])
def test_one_email_to_sales_and_support_gets_supports_outcome_in_either_order(
    dovecot, mail_user, other_mail_user, live_server, page, first
):
    sales = _connect(dovecot, mail_user, "Sales", "lead")
    support = _connect(dovecot, other_mail_user, "Support", "contact-deal")
    UserFactory(username="boss", is_superuser=True)
    page.set_default_timeout(60_000)

    # The administrator puts support@ before sales@.
    log_in(page, f"{live_server.url}/crm/settings/", "boss")
    # The first page after a login may send the browser's time zone and reload itself,
    # emptying what was typed: let it settle first.
    page.wait_for_load_state("networkidle")
    page.fill(f"input[name=precedence_{support.pk}]", "10")
    page.fill(f"input[name=precedence_{sales.pk}]", "20")
    page.click("form.crm-settings-form button[type=submit]")
    page.wait_for_selector("text=Saved the CRM settings.")

    raw = make_email(
        sender="Nina New <nina@new.test>",
        to=f"{sales.address}, {support.address}",
        subject="Broken chair and a new order",
        message_id="<both-1@new.test>",
    )
    dovecot.deliver(raw, to=sales.address)
    dovecot.deliver(raw, to=support.address)
    order = [sales, support] if first == "sales" else [support, sales]
    for mailbox in order:  # each mailbox's copy captured before the next is fetched
        sync_mailbox(mailbox)
        jobs.drain_embedded_queue()

    assert (Lead.objects.count(), Contact.objects.count(), Deal.objects.count()) == (0, 1, 1)
    for mailbox in (sales, support):
        conversation = Conversation.objects.get(mailbox=mailbox)
        page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
        links = page.inner_text("p.crm-links")
        assert "Nina New" in links or "Broken chair" in links, links
        assert f"by the CRM rule of {support.address}" in links, links

    page.goto(f"{live_server.url}/leads/")
    assert page.locator("main", has_text="Broken chair").count() == 0
    page.goto(f"{live_server.url}/deals/")
    page.wait_for_selector("main >> text=Broken chair and a new order")
