"""The CRM's models: what the migrations create and the small questions models answer."""

import pytest
from django.db import IntegrityError

from postroom.crm import items
from postroom.crm.models import (
    CompanyDomain,
    ContactEmail,
    Deal,
    Pipeline,
    SmartItem,
    SmartType,
    Stage,
)
from postroom.testing.factories import (
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    SmartItemFactory,
)

pytestmark = pytest.mark.django_db


def test_the_default_sales_pipeline_has_its_stages():
    sales = Pipeline.default()
    assert sales.name == "Sales" and sales.is_default
    assert [(s.name, s.semantics) for s in sales.stages.all()] == [
        ("New", "open"),
        ("In progress", "open"),
        ("Won", "won"),
        ("Lost", "lost"),
    ]
    assert sales.first_stage().name == "New"


def test_the_support_request_smart_type_exists_for_the_example_setup():
    support = SmartType.objects.get(slug="support-request")
    assert support.name == "Support Request"
    assert support.first_stage().name == "New"


def test_contact_emails_are_stored_lower_case():
    contact = ContactFactory(email="  Anna@Customer.TEST ")
    assert list(contact.emails.values_list("email", flat=True)) == ["anna@customer.test"]
    assert contact.primary_email == "anna@customer.test"


def test_a_company_domain_is_unique_and_lower_case():
    company = CompanyFactory()
    CompanyDomain.objects.create(company=company, domain="@Customer.Test")
    assert company.domains.get().domain == "customer.test"
    with pytest.raises(IntegrityError):
        CompanyDomain.objects.create(company=CompanyFactory(), domain="customer.test")


def test_open_deals_are_those_in_an_open_stage():
    sales = Pipeline.default()
    won = sales.stages.get(semantics=Stage.Semantics.WON)
    open_deal = DealFactory()
    DealFactory(stage=won)
    assert list(Deal.objects.open()) == [open_deal]
    assert open_deal.is_open


def test_a_stage_belongs_to_a_pipeline_or_a_smart_type_never_both():
    with pytest.raises(IntegrityError):
        Stage.objects.create(name="Nowhere")


def test_every_item_kind_has_a_title_responsible_and_page():
    lead = LeadFactory(title="Price request")
    contact = ContactFactory(name="", email="anna@customer.test")
    company = CompanyFactory(name="Customer Ltd")
    deal = DealFactory(title="Big order")
    smart = SmartItemFactory(title="Printer broken")
    assert [items.title_of(i) for i in (lead, contact, company, deal, smart)] == [
        "Price request",
        "anna@customer.test",
        "Customer Ltd",
        "Big order",
        "Printer broken",
    ]
    assert [items.kind_of(i).key for i in (lead, contact, company, deal, smart)] == [
        "lead",
        "contact",
        "company",
        "deal",
        "smart_item",
    ]
    assert all(items.responsible_of(i) is None for i in (lead, contact, company, deal, smart))
    assert lead.get_absolute_url() == f"/leads/{lead.pk}/"
    assert items.label_of(smart) == smart.smart_type.name
    assert isinstance(smart, SmartItem) and smart.is_open
    assert ContactEmail.objects.count() == 1
