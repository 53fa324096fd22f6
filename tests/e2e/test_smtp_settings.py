"""Issue 19, point 6, in the browser: a mailbox's manager sets its SMTP login on the
Settings page; a wrong password is refused in the SMTP server's own words and saves
nothing, the right one is saved once the server accepted it. Against aiosmtpd with AUTH."""

import pytest

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.connecting import run_jobs
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.smtp import CapturingSMTPServer
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fill(page, server, password: str) -> None:
    page.fill("input[name=smtp_host]", server.host)
    page.fill("input[name=smtp_port]", str(server.port))
    page.select_option("select[name=smtp_security]", "none")
    page.fill("input[name=smtp_username]", "sender@acme.test")
    page.fill("input[name=smtp_password]", password)
    page.get_by_role("button", name="Save").click()


def test_a_wrong_smtp_password_is_refused_in_the_servers_words(live_server, page):
    mailbox = MailboxFactory(address="sales@acme.test", name="Sales")
    mia = UserFactory(username="mia")
    do_grant_mailbox(mailbox, mia, MailboxGrant.Level.MANAGE)
    page.set_default_timeout(60_000)
    with CapturingSMTPServer(auth_credentials={"sender@acme.test": "right"}) as server:
        log_in(page, f"{live_server.url}/mailboxes/{mailbox.pk}/settings/", "mia")
        page.wait_for_load_state("networkidle")  # a time-zone reload first
        assert page.get_by_role("heading", name="Sending").is_visible()
        _fill(page, server, "wrong")
        page.wait_for_selector(f"text=Logging in to {server.host}:{server.port}")
        run_jobs()  # the job runner's turn; the page finds out by itself
        page.wait_for_selector("text=535 5.7.8 Authentication credentials invalid")
        assert page.is_visible("text=SMTP settings not saved")
        mailbox.refresh_from_db()
        assert mailbox.smtp_host == ""

        page.click("text=Change the settings and try again")
        _fill(page, server, "right")
        run_jobs()
        page.wait_for_selector(f"text=SMTP settings of {mailbox.address} saved")
        assert page.url.endswith(f"/mailboxes/{mailbox.pk}/settings/")
        assert page.input_value("input[name=smtp_host]") == server.host
        assert page.input_value("input[name=smtp_password]") == ""
        mailbox.refresh_from_db()
        assert mailbox.smtp_login() == ("sender@acme.test", "right")
        assert server.messages == []
