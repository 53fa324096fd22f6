"""The tracking tests' mailbox and sender, defined once for the unit tests beside the
code (postroom/tracking/tests) and the browser tests (tests/e2e/test_tracking*.py).

A pytest plugin (the root conftest.py's `pytest_plugins`), so that no test module
imports a fixture by name, which ruff reads as a redefinition (F811). A module that
defines a `sales` or `alice` of its own still gets its own: the nearer one wins."""

import pytest


@pytest.fixture
def sales(smtp_server):
    """A mailbox fed by the ingress (no IMAP), sending through the SMTP sink."""
    from postroom.testing.factories import MailboxFactory

    return MailboxFactory(
        address="sales@acme.test",
        name="Sales",
        imap_host="",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )


@pytest.fixture
def alice(sales):
    """Sales's colleague who writes to customers: she may reply from the mailbox, and
    is a Manager (reads her own CRM items)."""
    from postroom.accounts.roles import do_give_default_roles
    from postroom.mailboxes.actions import do_grant_mailbox
    from postroom.mailboxes.models import MailboxGrant
    from postroom.testing.factories import UserFactory

    user = UserFactory(username="alice", first_name="Alice", email="alice@acme.test")
    do_grant_mailbox(sales, user, MailboxGrant.Level.REPLY)
    do_give_default_roles(user)
    return user
