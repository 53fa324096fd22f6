"""In a real browser, under the Content-Security-Policy every page carries (no inline
script): the behaviours templates used to write inline still work, from
static/web/postroom.js, and no page of the walk has a script or style refused. A
reply's editor (Trix, vendored) loads and takes text."""

import pytest

from postroom.accounts.models import Department
from postroom.crm.models import Pipeline
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import DepartmentFactory, MailboxFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def watched(page):
    """The page, and what the browser refused by the policy (its console says so)."""
    refused: list[str] = []
    page.on(
        "console",
        lambda msg: refused.append(msg.text) if "Content Security Policy" in msg.text else None,
    )
    page.set_default_timeout(60_000)  # generous: the whole suite may load the machine
    return page, refused


def test_confirmations_ask_before_deleting(live_server, watched):
    page, refused = watched
    UserFactory(username="boss", is_superuser=True)
    sales = DepartmentFactory(name="Sales team")
    log_in(page, f"{live_server.url}/people/departments/{sales.pk}/", "boss")
    page.wait_for_selector("form[data-confirm]")

    asked: list[str] = []

    def answer(dialog, accept):
        asked.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.click("form[data-confirm] button[type=submit]")
    page.wait_for_timeout(500)  # a dismissed form must not be submitted: nothing to await
    assert asked == ["Delete the department Sales team? Mailbox grants to it go too."]
    assert Department.objects.filter(pk=sales.pk).exists()

    page.once("dialog", lambda d: answer(d, True))
    with page.expect_navigation():
        page.click("form[data-confirm] button[type=submit]")
    assert len(asked) == 2 and not Department.objects.filter(pk=sales.pk).exists()
    assert refused == []


def test_the_board_switches_pipeline_when_one_is_picked(live_server, watched):
    page, refused = watched
    UserFactory(username="boss", is_superuser=True)
    Pipeline.default()
    partners = Pipeline.objects.create(name="Partners")
    log_in(page, f"{live_server.url}/deals/board/", "boss")
    page.wait_for_selector("select[data-autosubmit]")
    with page.expect_navigation():
        page.select_option("select[data-autosubmit]", str(partners.pk))
    assert f"pipeline={partners.pk}" in page.url
    assert refused == []


def test_the_tracker_address_is_copied(live_server, watched):
    page, refused = watched
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    UserFactory(username="alice")
    log_in(page, f"{live_server.url}/me/", "alice")
    page.click("#copy-tracker")
    page.wait_for_selector("#copy-tracker:has-text('Copied')")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("track-") and copied == page.input_value("#tracker-address")
    assert refused == []


def test_the_pages_people_use_have_nothing_refused(live_server, watched):
    page, refused = watched
    boss = UserFactory(username="boss", is_superuser=True, is_staff=True)
    mailbox = MailboxFactory(address="sales@acme.test", smtp_host="127.0.0.1", smtp_port=25)
    MailboxGrant.objects.create(mailbox=mailbox, user=boss, level=MailboxGrant.Level.MANAGE)
    log_in(page, f"{live_server.url}/inbox/", "boss")
    for path in [
        "/inbox/",
        "/mailboxes/",
        f"/mailboxes/{mailbox.pk}/",
        f"/mailboxes/{mailbox.pk}/outbox/",
        "/crm/",
        "/deals/board/",
        "/people/",
        "/me/",
        "/quarantine/",
        "/admin/",
        "/admin/accounts/user/",
    ]:
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("load")
    page.goto(f"{live_server.url}/mailboxes/{mailbox.pk}/compose/")
    page.wait_for_selector("trix-editor")
    page.click("trix-editor")
    page.keyboard.type("Hello from the editor")
    assert "Hello from the editor" in page.inner_text("trix-editor")
    assert refused == []
