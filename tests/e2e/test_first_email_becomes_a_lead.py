"""The walking skeleton: an email delivered to a real IMAP server becomes a lead in the UI."""

import pytest
from django.core.management import call_command

from postroom.crm.models import Activity, Lead
from postroom.mail.models import Conversation, Message
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "e2e-Admin-password-1"


@pytest.fixture
def connected(dovecot, mail_user, monkeypatch):
    """An administrator and the sales mailbox, set up through the CLI as an operator would."""
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
    return mail_user.address


def test_an_email_from_a_new_sender_becomes_a_lead_seen_in_the_ui(
    dovecot, connected, live_server, page
):
    sales = connected
    dovecot.deliver(
        make_email(sender="Anna Client <anna@customer.test>", to=sales,
                   subject="Quote for 40 chairs", body="Could you send a quote?"),
        to=sales,
    )  # fmt: skip
    call_command("sync", sales, "--once")

    lead = Lead.objects.get()
    assert (lead.email, lead.name, lead.title) == ("anna@customer.test", "Anna Client",
                                                   "Quote for 40 chairs")  # fmt: skip
    assert Message.objects.get().status == Message.Status.PARSED
    assert Conversation.objects.count() == 1

    call_command("sync", sales, "--once")  # again: nothing new
    assert (Message.objects.count(), Lead.objects.count(), Activity.objects.count()) == (1, 1, 1)

    dovecot.deliver(
        make_email(sender="anna@customer.test", to=sales, subject="Also 4 tables"), to=sales
    )
    dovecot.deliver(
        make_email(sender="Boss <boss@acme.test>", to=sales, subject="Internal note"), to=sales
    )
    call_command("sync", sales, "--once")
    assert Lead.objects.count() == 1, "the colleague's mail must not create a lead"
    assert Activity.objects.filter(entries__object_id=lead.pk).count() == 2

    log_in(page, f"{live_server.url}/leads/", "boss", ADMIN_PASSWORD)
    page.click("text=Quote for 40 chairs")
    timeline = page.locator("ol.timeline")
    assert "Could you send a quote?" in timeline.inner_text()
    assert "Also 4 tables" in timeline.inner_text()
    assert page.locator(".lead-email").inner_text() == "anna@customer.test"

    page.goto(f"{live_server.url}/mailboxes/")
    page.click("text=Sales")
    assert page.locator("table.conversations tr.unread").count() == 3
