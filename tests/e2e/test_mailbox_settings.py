"""In a real browser: an administrator turns the sales mailbox from leads to "Support
Request" items on its settings page, and the next email from Dovecot becomes one."""

import pytest
from django.core.management import call_command

from postroom.crm.models import Lead, SmartItem
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import SmartTypeFactory
from postroom.testing.mail import make_email

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "e2e-Admin-password-1"


def test_a_new_crm_rule_chosen_on_the_settings_page_applies_to_the_next_email(
    dovecot, mail_user, monkeypatch, live_server, page
):
    monkeypatch.setenv("ADMIN_PASSWORD", ADMIN_PASSWORD)
    monkeypatch.setenv("SALES_PASSWORD", mail_user.password)
    call_command("user", "add", "boss", "--email", "boss@acme.test", "--admin",
                 "--password-env", "ADMIN_PASSWORD")  # fmt: skip
    call_command(
        "mailbox", "add", mail_user.address, "--name", "Sales",
        "--imap-host", dovecot.host, "--imap-port", str(dovecot.imap_port),
        "--imap-security", "none", "--username", mail_user.username,
        "--password-env", "SALES_PASSWORD", "--crm-rule", "lead",
    )  # fmt: skip
    SmartTypeFactory(name="Support Request", slug="support-request")

    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    page.goto(f"{live_server.url}/mailboxes/")
    page.fill("input[name=username]", "boss")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/mailboxes/")
    page.click("text=Settings")
    page.select_option("select[name=crm_rule]", label="Create a “Support Request” item")
    page.fill("input[name=initial_days]", "90")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=Settings of " + mail_user.address + " saved.")

    mailbox = Mailbox.objects.get()
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

    page.goto(f"{live_server.url}/mailboxes/")
    assert "smart:support-request" in page.inner_text("table.list")
