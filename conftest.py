"""Fixtures shared by every test: the real parts (Dovecot, an SMTP server) and the database."""

import os

import pytest

from postroom.testing.fixtures import (  # noqa: F401
    dovecot,
    dovecot_tls,
    mail_user,
    mail_user_tls,
    other_mail_user,
    smtp_server,
)

# Fixtures shared by a package's own tests and the browser tests (see each module).
pytest_plugins = ["postroom.tracking.tests.fixtures"]

IN_CI = os.environ.get("CI") == "true"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI=true a skip is a failure: every part must be installed, not skipped."""
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = (
            f"skipped under CI=true, where every part must be present: {report.longrepr}"
        )


@pytest.fixture(autouse=True)
def _fresh_process_caches():
    """Each test starts without what a process keeps between requests and jobs: the
    organisation's CRM settings (internal domains) and the mailboxes' loaded rules. A
    rolled-back test's settings or rules (and on SQLite their reused ids) must not be
    taken for the next test's."""
    from postroom.crm import organisation
    from postroom.routing.rules import forget_loaded

    organisation.invalidate()
    forget_loaded()
    yield
    organisation.invalidate()
    forget_loaded()


@pytest.fixture
def live_env(settings) -> dict[str, str]:
    """Environment for a `postroom` subprocess that shares this test's database and data."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "POSTROOM_DATA_DIR": str(settings.DATA_DIR),
        "POSTROOM_SECRET_KEY": settings.SECRET_KEY,
        "POSTROOM_POLL_INTERVAL": "1",
    }


@pytest.fixture
def dovecot_mailbox(db, dovecot, mail_user):  # noqa: F811 - pytest fixtures by name
    """A Postroom mailbox (CRM rule: lead) connected to a fresh Dovecot user."""
    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox

    return do_add_mailbox(
        ConnectionSettings(
            address=mail_user.address,
            name="Sales",
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_security="none",
            username=mail_user.username,
            password=mail_user.password,
        ),
        crm_rule="lead",
    )


@pytest.fixture
def sending_mailbox(dovecot_mailbox, smtp_server):  # noqa: F811 - pytest fixtures by name
    """dovecot_mailbox sending through the capturing SMTP server (smtp_server)."""
    dovecot_mailbox.smtp_host = smtp_server.host
    dovecot_mailbox.smtp_port = smtp_server.port
    dovecot_mailbox.smtp_security = "none"
    dovecot_mailbox.save()
    return dovecot_mailbox


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (no browser download needed)."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make around it are still synchronous and safe.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()
