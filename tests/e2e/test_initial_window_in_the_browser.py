"""Issue 19, point 1, as an administrator meets it: a mailbox whose INBOX got old mail
after newer mail (restored from an archive: old mail, high UIDs) is connected in the
browser with 30 days back. Its first sync fetches only the last 30 days, so no old
customer becomes a lead; widening to 90 days on the Settings page fetches exactly the
email of the added days, and nothing older. Against Dovecot (APPEND with a date)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command

from postroom.crm.models import Lead
from postroom.mailboxes.models import Mailbox
from postroom.testing.connecting import run_jobs
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# In the order they reached the folder (UID order), not in date order: (subject, days ago).
ARRIVALS = [("Recent 1", 1), ("Recent 2", 2), ("Restored 60", 60), ("Restored 200", 200)]
ARRIVALS += [("Recent 3", 0)]


def _leads() -> set[str]:
    return set(Lead.objects.values_list("title", flat=True))


def test_the_first_sync_keeps_to_the_days_chosen_whatever_the_uid_order(
    dovecot, mail_user, live_server, page
):
    for n, (subject, days) in enumerate(ARRIVALS):
        when = datetime.now(UTC) - timedelta(days=days)
        raw = make_email(sender=f"Client {n} <c{n}@customer{n}.test>", to=mail_user.address,
                         subject=subject, date=when)  # fmt: skip
        dovecot.append(mail_user.username, mail_user.password, raw, date=when)
    UserFactory(username="boss", is_superuser=True)
    page.set_default_timeout(60_000)

    log_in(page, f"{live_server.url}/mailboxes/connect/", "boss")
    page.wait_for_load_state("networkidle")  # a time-zone reload first
    page.fill("input[name=address]", mail_user.address)
    page.fill("input[name=name]", "Sales")
    page.fill("input[name=imap_host]", dovecot.host)
    page.fill("input[name=imap_port]", str(dovecot.imap_port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=username]", mail_user.username)
    page.fill("input[name=password]", mail_user.password)
    page.select_option("select[name=crm_rule]", "lead")
    assert page.input_value("input[name=initial_days]") == "30"
    page.click("form.connect button[type=submit]")
    page.wait_for_selector("text=Logging in to")
    run_jobs()
    page.wait_for_selector("text=Now choose who may use it.")
    mailbox = Mailbox.objects.get()

    call_command("sync", mail_user.address, "--once")
    assert _leads() == {"Recent 1", "Recent 2", "Recent 3"}
    page.goto(f"{live_server.url}/leads/")
    leads = page.inner_text("main")
    assert "Recent 3" in leads and "Restored" not in leads

    # 90 days back: the email of 60 days ago comes, the one of 200 days does not.
    page.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/settings/")
    page.fill("input[name=initial_days]", "90")
    page.locator("form", has=page.locator("input[name=initial_days]")).locator(
        "button[type=submit]"
    ).first.click()
    page.wait_for_selector(f"text=Settings of {mail_user.address} saved.")
    call_command("sync", mail_user.address, "--once")
    assert _leads() == {"Recent 1", "Recent 2", "Recent 3", "Restored 60"}
    call_command("sync", mail_user.address, "--once")  # again: nothing more
    assert Lead.objects.count() == 4
    page.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/")
    shown = page.inner_text("main")
    assert "Restored 60" in shown and "Restored 200" not in shown
