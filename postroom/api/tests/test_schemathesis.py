"""Schemathesis against the served OpenAPI document: for every operation, generated
requests (bounded: POSTROOM_API_FUZZ_EXAMPLES per operation, default 8) must get no
5xx and no response that its schema does not allow.

Called as an administrator (who reaches every code path) over a database seeded with a
mailbox, a conversation with an email, and CRM items, so that low ids exist.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from postroom.api.tokens import do_create_token
from postroom.testing.factories import DealFactory, LeadFactory, MailboxFactory, UserFactory
from postroom.testing.mail import ingested, make_email

EXAMPLES = int(os.environ.get("POSTROOM_API_FUZZ_EXAMPLES", "8"))

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())


@pytest.fixture
def in_test_transaction():
    """Requests through the WSGI app keep the test's database connection open, as
    Django's test client does (otherwise request_finished closes it mid-test)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def admin_token(db, settings, in_test_transaction):
    settings.POSTROOM = {**settings.POSTROOM, "API_RATE_PER_MINUTE": 0}
    admin = UserFactory(username="root", is_superuser=True)
    mailbox = MailboxFactory(address="sales@acme.test")
    ingested(mailbox, make_email())
    LeadFactory(responsible=admin)
    DealFactory(responsible=admin)
    return do_create_token(admin, name="fuzz", scope="read_write").raw


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
)
def test_the_api_keeps_to_its_document(case, admin_token):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {admin_token}"},
        checks=[not_a_server_error, response_schema_conformance],
    )
