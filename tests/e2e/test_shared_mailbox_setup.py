"""In a real browser: an administrator connects the support mailbox (real Dovecot), lets
a colleague use it, turns its new mail into "Support Request" items, and the next
email becomes one that the colleague sees."""

import pytest
from django.core.management import call_command

from postroom.crm.models import Lead, SmartItem
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.models import Mailbox, MailboxGrant
from postroom.testing.connecting import run_jobs
from postroom.testing.factories import SmartTypeFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_administrator_sets_up_a_shared_mailbox_in_the_browser(
    dovecot, mail_user, live_server, page
):
    UserFactory(username="boss", is_superuser=True)
    alice = UserFactory(username="alice")
    SmartTypeFactory(name="Support Request", slug="support-request")

    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    log_in(page, f"{live_server.url}/mailboxes/", "boss")
    page.click("text=Connect a shared mailbox")
    page.fill("input[name=address]", mail_user.address)
    page.fill("input[name=name]", "Support")
    page.fill("input[name=imap_host]", dovecot.host)
    page.fill("input[name=imap_port]", str(dovecot.imap_port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=username]", mail_user.username)
    page.fill("input[name=password]", mail_user.password)
    page.fill("input[name=initial_days]", "90")
    page.click("form.connect button[type=submit]")
    page.wait_for_selector("text=Logging in to")  # a job logs in; the page polls it
    run_jobs()
    page.wait_for_selector("text=Now choose who may use it.")

    # Who may use it: Alice may reply from it.
    page.select_option("select[name=user]", label="alice")
    page.select_option("select[name=level]", label="Reply")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=alice: reply access.")
    mailbox = Mailbox.objects.get()
    assert list(mailboxes_for(alice, MailboxGrant.Level.REPLY)) == [mailbox]

    # Settings: new mail makes Support Request items.
    page.click(f"main a[href='/mailboxes/{mailbox.pk}/settings/']")
    page.select_option("select[name=crm_rule]", label="Create a “Support Request” item")
    page.click("form.card button[type=submit]")
    page.wait_for_selector(f"text=Settings of {mail_user.address} saved.")
    mailbox.refresh_from_db()
    assert (mailbox.crm_rule, mailbox.crm_smart_type, mailbox.initial_days) == (
        "smart", "support-request", 90,
    )  # fmt: skip

    dovecot.deliver(
        make_email(sender="Carol <carol@customer.test>", to=mail_user.address,
                   subject="The printer is on fire"),
        to=mail_user.address,
    )  # fmt: skip
    call_command("sync", mail_user.address, "--once")
    assert SmartItem.objects.filter(title="The printer is on fire").exists()
    assert not Lead.objects.exists()

    page.click("text=Log out")
    log_in(page, f"{live_server.url}/mailboxes/", "alice")
    page.click(f"table.list a[href='/mailboxes/{mailbox.pk}/']")
    page.wait_for_selector("text=The printer is on fire")
