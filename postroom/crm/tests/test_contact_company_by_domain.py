"""A contact made or edited by hand with an address at a company's mail domain is offered
that company, and joins it when the organisation's option is on (the default), as
captured contacts do."""

import pytest

from postroom.crm import editing, organisation
from postroom.crm.models import TimelineEntry
from postroom.testing.factories import CompanyDomainFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(is_superuser=True)


@pytest.fixture
def customer():
    return CompanyDomainFactory(domain="customer.test").company


def _option(admin, on: bool) -> None:
    organisation.do_save_settings(
        acting_user=admin, internal_domains=["acme.test"], join_company_by_domain=on
    )


def test_a_new_contact_joins_the_company_of_its_domain(admin, customer):
    contact = editing.do_create_contact(
        acting_user=admin, name="Anna", emails=["gmail-fan@gmail.com", "Anna@Customer.test"]
    )

    assert contact.company == customer
    entry = TimelineEntry.objects.filter(object_id=contact.pk, text__startswith="Joined").get()
    assert entry.text == f"Joined {customer.name} by the mail domain customer.test"
    assert editing.company_offer(contact) is None


def test_with_the_option_off_the_company_is_offered_and_joined_on_request(admin, customer):
    _option(admin, False)
    contact = editing.do_create_contact(acting_user=admin, name="Anna", emails=["a@customer.test"])
    assert contact.company is None

    assert editing.company_offer(contact) == (customer, "customer.test")
    editing.do_join_company(contact, customer, acting_user=admin, domain="customer.test")
    contact.refresh_from_db()
    assert contact.company == customer


def test_an_edit_joins_on_a_new_address_but_never_undoes_a_cleared_company(admin, customer):
    contact = editing.do_create_contact(acting_user=admin, name="Anna", emails=["a@new.test"])
    assert contact.company is None

    editing.do_update_contact(
        contact, acting_user=admin, emails=["a@new.test", "a@customer.test"], phones=[]
    )
    assert contact.company == customer

    editing.do_update_contact(
        contact, acting_user=admin, emails=["a@new.test", "a@customer.test"], phones=[],
        company=None,
    )  # fmt: skip
    contact.refresh_from_db()
    assert contact.company is None, "cleared on purpose: stays cleared"
    assert editing.company_offer(contact) == (customer, "customer.test")


def test_free_mail_and_unknown_domains_offer_nothing(admin):
    CompanyDomainFactory(domain="other.test")
    contact = editing.do_create_contact(
        acting_user=admin, name="Anna", emails=["anna@gmail.com", "anna@nowhere.test"]
    )
    assert contact.company is None
    assert editing.company_offer(contact) is None
