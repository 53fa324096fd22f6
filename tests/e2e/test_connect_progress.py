"""In a real browser: connecting a mailbox shows the check's progress while a job logs in
(the page polls its status), then leads on to the mailbox, or says why not in place."""

import pytest

from postroom.mailboxes.models import Mailbox
from postroom.testing.connecting import run_jobs
from postroom.testing.factories import UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _fill_and_submit(page, live_server, dovecot, mail_user, password: str) -> None:
    UserFactory(username="boss", is_superuser=True)
    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    log_in(page, f"{live_server.url}/mailboxes/connect/", "boss")
    page.fill("input[name=address]", mail_user.address)
    page.fill("input[name=name]", "Support")
    page.fill("input[name=imap_host]", dovecot.host)
    page.fill("input[name=imap_port]", str(dovecot.imap_port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=username]", mail_user.username)
    page.fill("input[name=password]", password)
    page.click("form.connect button[type=submit]")


def test_connecting_shows_progress_then_the_mailbox(dovecot, mail_user, live_server, page):
    _fill_and_submit(page, live_server, dovecot, mail_user, mail_user.password)

    # The job has not run: the page says what it is doing, and nothing is saved yet.
    page.wait_for_selector(f"text=Logging in to {dovecot.host}:{dovecot.imap_port}")
    assert not Mailbox.objects.exists()

    run_jobs()  # the job runner's turn; the page finds out by itself

    page.wait_for_selector("text=Now choose who may use it.")
    mailbox = Mailbox.objects.get()
    assert page.url.endswith(f"/mailboxes/{mailbox.pk}/access/")
    assert page.is_visible(f"text=Connected {mail_user.address}: syncing INBOX, Sent.")


def test_a_refused_login_is_said_on_the_check_s_page(dovecot, mail_user, live_server, page):
    _fill_and_submit(page, live_server, dovecot, mail_user, "wrong password")
    page.wait_for_selector(f"text=Logging in to {dovecot.host}:{dovecot.imap_port}")

    run_jobs()

    page.wait_for_selector("text=The server refused the login")
    page.click("text=Change the settings and try again")
    assert page.input_value("input[name=username]") == mail_user.username
    assert page.input_value("input[name=password]") == ""
    assert not Mailbox.objects.exists()
