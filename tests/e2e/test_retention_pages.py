"""In Chromium: an administrator reads the dry run, starts a run and reads its log, then
switches a mailbox's sync off choosing to remove its unlinked mail; every page fits a
phone's width."""

import os
from pathlib import Path

import pytest

from postroom import jobs
from postroom.mail.models import Message
from postroom.mailboxes.models import Folder
from postroom.retention.tests.helpers import arrive
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Screenshots for a person to look at, when asked for (POSTROOM_SCREENSHOTS=DIR).
SHOTS = os.environ.get("POSTROOM_SCREENSHOTS", "")


def _look(page, name: str) -> None:
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow} px too wide at {width} px"
        if SHOTS:
            Path(SHOTS).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_administrator_runs_retention_and_switches_a_mailbox_off(live_server, page, settings):
    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PACK_QUIET": 0}
    UserFactory(username="ada", is_superuser=True)
    sales = MailboxFactory(address="sales@acme.test", name="Sales")
    support = MailboxFactory(address="support@acme.test", name="Support")
    for n in range(3):
        arrive(sales, f"old question {n}", days_ago=45 + n, attachment=b"%PDF quote" * 200)
    arrive(sales, "this week", days_ago=2)
    arrive(support, "support this week", days_ago=1)
    page.on("dialog", lambda dialog: dialog.accept())

    log_in(page, f"{live_server.url}/retention/", "ada")
    row = page.locator('tr[data-mailbox="sales@acme.test"]')
    assert row.locator("td.num").first.inner_text() == "3"
    _look(page, "retention")

    page.click("text=Run retention now")
    page.wait_for_url("**/retention/runs/*/")
    jobs.drain_embedded_queue()
    page.reload()
    assert "3 copies and 3 emails removed" in page.inner_text("[data-run-figures]")
    _look(page, "retention-run")

    page.goto(f"{live_server.url}/storage/")
    assert page.locator('tr[data-mailbox="sales@acme.test"] td.num').first.inner_text() == "1"
    _look(page, "storage")

    page.goto(f"{live_server.url}/mailboxes/{support.pk}/folders/")
    page.click("text=Switch sync off for the whole mailbox")
    assert "1 email of it is on no CRM item" in page.inner_text("[data-unlinked]")
    _look(page, "stop-sync")
    page.check("input[value=remove]")
    page.click("button:has-text('Switch sync off')")
    page.wait_for_url(f"**/mailboxes/{support.pk}/folders/")
    jobs.drain_embedded_queue()
    assert not Folder.objects.get(mailbox=support).is_synced
    assert list(Message.objects.values_list("subject", flat=True)) == ["this week"]
