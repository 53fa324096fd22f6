"""The README's "First steps", walked as a new company would: `make run` on an empty data
directory (`postroom migrate`, then `postroom run`, as the Makefile does), the first
administrator's login as printed, a shared mailbox connected in the browser (a Dovecot
mailbox, replies through an SMTP server that wants the mailbox's login), a colleague
added with a generated password and given reply access, a customer's email that becomes
a lead, the colleague's reply, and the reply threaded under the customer's email.

Everything runs in the one `postroom run` process tree with its embedded defaults
(SQLite and raw mail under the data directory, the job queue in the database); only
the ports are chosen free, so that it does not collide with anything on the machine.
"""

import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from postroom.testing.dovecot import free_port
from postroom.testing.mail import make_email
from postroom.testing.processes import group_alive, stop, wait_for
from postroom.testing.smtp import CapturingSMTPServer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

POSTROOM = str(Path(sys.executable).parent / "postroom")  # .venv/bin/postroom, as make runs it
QUESTION = "Hello,\n\nCould you send us a quote for 40 chairs?\n\nBest regards,\nAnna Client\n"
ANSWER = "Dear Anna, 40 chairs cost 4,000 EUR."


def _fresh_environment(data: Path, web: int, ingress: int) -> dict[str, str]:
    """The environment of someone who just cloned the repository: none of the test
    run's Postroom settings, database or key; a data directory of its own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("POSTROOM_") and key != "DATABASE_URL"
    }
    env["POSTROOM_DATA_DIR"] = str(data)
    env["POSTROOM_WEB_BIND"] = f"127.0.0.1:{web}"
    env["POSTROOM_INGRESS_BIND"] = f"127.0.0.1:{ingress}"
    return env


def _serving(run: subprocess.Popen, log: Path, url: str) -> bool:
    assert run.poll() is None, log.read_text()
    try:
        return urllib.request.urlopen(url, timeout=2).status == 200  # noqa: S310
    except OSError:
        return False


def _log_in(page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("header.top .who")
    # The first page after a login may send the browser's time zone and reload itself:
    # let it settle before clicking on.
    page.wait_for_load_state("networkidle")


def test_the_readmes_first_steps_from_make_run(dovecot, mail_user, tmp_path, page, browser):
    data, log = tmp_path / "data", tmp_path / "run.log"
    env = _fresh_environment(data, free_port(), free_port())
    migrate = subprocess.run(
        [POSTROOM, "migrate", "--noinput"], env=env, capture_output=True, timeout=600
    )
    assert migrate.returncode == 0, migrate.stderr.decode()
    with open(log, "ab") as out:
        run = subprocess.Popen(
            [POSTROOM, "run"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped whole, by its pid
        )  # fmt: skip
    sink = CapturingSMTPServer(auth_credentials={mail_user.username: mail_user.password})
    try:
        with sink:
            _walk(run, log, dovecot, mail_user, sink, page, browser)
    except BaseException:
        page.screenshot(path=str(tmp_path / "failed.png"), full_page=True)
        print(log.read_text()[-5000:])
        raise
    finally:
        stop(run)  # Ctrl-C to the process group
    assert not group_alive(run.pid), "Ctrl-C left processes behind"


def _walk(run, log: Path, dovecot, mail_user, sink, page, browser) -> None:
    page.set_default_timeout(60_000)  # generous: other tests may load the machine

    # 1. `make run` prints where Postroom listens and the first administrator's login.
    wait_for(lambda: "Postroom is starting on" in log.read_text(), 120, "postroom run to start")
    printed = log.read_text()
    url = re.search(r"Postroom is starting on (http://\S+/)", printed).group(1)
    login = re.search(r"first administrator created: login (\S+), password (\S+)", printed)
    assert login, printed
    wait_for(lambda: _serving(run, log, url + "login/"), 90, "the web server")
    _log_in(page, url, login.group(1), login.group(2))

    # 2. Mailboxes → Connect a shared mailbox: IMAP, SMTP for replies, the CRM rule.
    _menu(page, "Mailboxes")
    page.click("text=Connect a shared mailbox")
    page.fill("input[name=address]", mail_user.address)
    page.fill("input[name=name]", "Sales")
    page.fill("input[name=imap_host]", dovecot.host)
    page.fill("input[name=imap_port]", str(dovecot.imap_port))
    page.select_option("select[name=imap_security]", "none")
    page.fill("input[name=username]", mail_user.username)
    page.fill("input[name=password]", mail_user.password)
    page.fill("input[name=smtp_host]", sink.host)
    page.fill("input[name=smtp_port]", str(sink.port))
    page.select_option("select[name=smtp_security]", "none")
    # SMTP username and password left empty: the IMAP ones, which the sink wants.
    page.select_option("select[name=crm_rule]", "lead")
    page.click("form.connect button[type=submit]")
    # The job runner of `postroom run` logs in to both servers; the page follows it.
    page.wait_for_selector("text=Now choose who may use it.")
    access_url = page.url

    # 3. People & roles → Add or invite a person, with a generated password shown once.
    _menu(page, "People & roles")
    page.click("text=Add or invite a person")
    page.fill("input[name=first_name]", "Bob")
    page.fill("input[name=last_name]", "Seller")
    page.fill("input[name=email]", "bob@acme.test")
    page.check("input[name=how][value=password]")
    page.click("form.card button[type=submit]")
    password = page.inner_text("[data-generated-password]")
    # ... and reply access to the mailbox on its "Who may use it" page.
    page.goto(access_url)
    option = page.locator("select[name=user] option", has_text="Bob")
    page.select_option("select[name=user]", option.get_attribute("value"))
    page.select_option("select[name=level]", label="Reply")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("text=reply access.")
    # ... and, on the mailbox's Settings, the new leads are his (a Manager reads his own).
    page.click("main a[href$='/settings/']")
    option = page.locator("select[name=crm_responsible] option", has_text="Bob")
    page.select_option("select[name=crm_responsible]", option.get_attribute("value"))
    page.locator("form", has=page.locator("select[name=crm_responsible]")).locator(
        "button[type=submit]"
    ).first.click()
    page.wait_for_selector(f"text=Settings of {mail_user.address} saved.")

    # 4. A customer writes; the running worker fetches it and the CRM makes a lead.
    question_id = "<chairs-1@customer.test>"
    dovecot.deliver(
        make_email(sender="Anna Client <anna@customer.test>", to=mail_user.address,
                   subject="Quote for 40 chairs", body=QUESTION, message_id=question_id),
        to=mail_user.address,
    )  # fmt: skip

    bob = browser.new_context().new_page()
    bob.set_default_timeout(60_000)
    _log_in(bob, url, "bob", password)
    _leads(bob)
    wait_for(lambda: _shows(bob, "Quote for 40 chairs"), 60, "the lead on the Leads page")
    bob.click("main >> text=Quote for 40 chairs")
    assert "Could you send us a quote for 40 chairs?" in bob.inner_text("ol.timeline")

    # 5. Bob replies from the conversation (Inbox → the email → Reply).
    _menu(bob, "Inbox")
    bob.click("main >> text=Quote for 40 chairs")
    bob.get_by_role("link", name="Reply", exact=True).click()
    bob.locator("trix-editor").wait_for()
    bob.keyboard.type(ANSWER)
    bob.get_by_role("button", name="Send").click()
    conversation_url = re.compile(r"/conversations/\d+/$")
    bob.wait_for_url(conversation_url)

    # The reply leaves through the mailbox's SMTP server, logged in, after the Undo wait.
    [mail] = sink.wait_for(1, timeout=120)
    assert mail.login == mail_user.username
    assert mail.rcpt_tos == ["anna@customer.test"]
    reply = mail.message
    assert reply["In-Reply-To"] == question_id
    assert reply["Subject"] == "Re: Quote for 40 chairs"
    assert ANSWER in reply.get_body(("plain",)).get_content()

    # 6. Threaded: the conversation holds the question and the reply, and so does the lead.
    wait_for(lambda: _messages(bob) == 2, 60, "the reply in the conversation")
    _leads(bob)
    bob.click("main >> text=Quote for 40 chairs")
    timeline = bob.inner_text("ol.timeline")
    assert "Could you send us a quote" in timeline and ANSWER in timeline


def _menu(page, name: str) -> None:
    """A link of the header's menu, followed."""
    with page.expect_navigation():
        page.locator("header.top").get_by_role("link", name=name, exact=True).click()


def _leads(page) -> None:
    """CRM → Leads, from the header."""
    page.click("header.top .crm-menu summary")
    with page.expect_navigation():
        page.locator(".crm-menu").get_by_role("link", name="Leads", exact=True).click()


def _shows(page, text: str) -> bool:
    page.reload()
    return page.locator("main", has_text=text).count() > 0


def _messages(page) -> int:
    page.reload()
    return page.locator("article.message").count()
