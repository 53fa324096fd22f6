"""Colleagues are not leads: the organisation's internal domains, an organisation setting
that administrators edit, pre-filled from the shared mailboxes' and users' domains, with
POSTROOM_INTERNAL_DOMAINS as the initial value only."""

import pytest
from django.core.exceptions import ValidationError

from postroom.crm import organisation
from postroom.crm.access import CrmPermissionDenied
from postroom.crm.capture import capture_message
from postroom.crm.models import Lead
from postroom.mail.workflow import _organisation_addresses
from postroom.mailboxes.models import Mailbox
from postroom.routing.reports import organisation_addresses
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


def _save(admin, domains, join=True):
    return organisation.do_save_settings(
        acting_user=admin, internal_domains=domains, join_company_by_domain=join
    )


def test_a_colleague_without_an_account_is_not_a_lead_by_default(arrive):
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead")
    email = make_email(sender="Bob <bob@acme.test>", to="sales@acme.test", subject="Lunch?")

    result = capture_message(arrive(mailbox, email), mailbox)

    assert result.direction == "out"
    assert not Lead.objects.exists()


def test_the_defaults_are_the_variable_the_shared_mailboxes_and_the_users_domains(settings):
    settings.POSTROOM = {**settings.POSTROOM, "INTERNAL_DOMAINS": ["Acme-Group.test", "bad"]}
    MailboxFactory(address="support@acme.test")
    MailboxFactory(address="help@gmail.com")  # free mail: never the organisation's
    owner = UserFactory(email="carol@acme-labs.test")
    MailboxFactory(address="carol@home.test", kind=Mailbox.Kind.PERSONAL, owner=owner)

    current = organisation.current()

    assert not current.saved
    assert current.internal_domains == {"acme-group.test", "acme.test", "acme-labs.test"}


def test_saved_domains_replace_the_defaults_everywhere(arrive):
    admin = UserFactory(is_superuser=True, email="root@acme.test")
    mailbox = MailboxFactory(address="sales@acme.test", crm_rule="lead")
    assert organisation.internal_domains() >= {"acme.test"}  # cached now

    _save(admin, ["partner.test", "@Acme.test"])

    assert organisation.internal_domains() == {"acme.test", "partner.test"}
    assert _organisation_addresses()("eve@partner.test")
    assert "partner.test" in organisation_addresses()[1]
    email = make_email(sender="eve@partner.test", to="sales@acme.test")
    assert capture_message(arrive(mailbox, email), mailbox).direction == "out"

    _save(admin, [])
    email = make_email(sender="bob@acme.test", to="sales@acme.test", subject="Now a lead")
    assert capture_message(arrive(mailbox, email), mailbox).created


def test_only_an_administrator_saves_them_and_bad_domains_are_named():
    with pytest.raises(CrmPermissionDenied):
        _save(UserFactory(), ["acme.test"])
    admin = UserFactory(is_superuser=True)
    with pytest.raises(ValidationError, match="not a mail domain"):
        _save(admin, ["acme test"])
    with pytest.raises(ValidationError, match="free mail provider"):
        _save(admin, ["gmail.com"])
    assert not organisation.current().saved


def test_precedence_is_saved_for_shared_mailboxes_only():
    admin = UserFactory(is_superuser=True)
    shared = MailboxFactory()
    personal = MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=admin)

    organisation.do_save_settings(
        acting_user=admin,
        internal_domains=[],
        join_company_by_domain=True,
        precedence={shared.pk: 5, personal.pk: 1},
    )

    shared.refresh_from_db()
    personal.refresh_from_db()
    assert (shared.crm_precedence, personal.crm_precedence) == (5, 100)
