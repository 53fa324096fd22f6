"""CRM items through the API: list, read, create, update, delete, timeline, convert a
lead, move an email; refusals are the CRM pages' own (404 unreadable, 403 with the
reason)."""

from __future__ import annotations

import pytest

from postroom.crm.actions import do_bind_activity, do_record_email_activity
from postroom.crm.models import Contact, Deal, Lead, TimelineEntry
from postroom.testing.factories import (
    ContactFactory,
    DealFactory,
    LeadFactory,
    SmartItemFactory,
    SmartTypeFactory,
    UserFactory,
    default_role,
)
from postroom.testing.mail import ingested, make_email

from .conftest import token_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager_role(db):
    return default_role("Manager")


@pytest.fixture
def anna(manager_role):
    user = UserFactory(username="anna")
    user.roles.add(manager_role)
    return user


@pytest.fixture
def boris(manager_role):
    user = UserFactory(username="boris")
    user.roles.add(manager_role)
    return user


def test_a_lead_is_created_read_updated_and_listed(anna):
    api = token_client(anna)
    made = api.post("/api/v1/crm/leads/", {"title": "Chairs", "email": "Buyer@Customer.test"})
    assert made.status_code == 201, made.content
    lead = made.json()
    assert lead["responsible_id"] == anna.pk and lead["email"] == "buyer@customer.test"
    assert TimelineEntry.objects.filter(object_id=lead["id"], kind="created").exists()
    changed = api.patch(f"/api/v1/crm/leads/{lead['id']}", {"status": "in_progress"})
    assert changed.json()["status"] == "in_progress"
    assert changed.json()["title"] == "Chairs"
    listed = api.get("/api/v1/crm/leads/").json()["items"]
    assert [item["id"] for item in listed] == [lead["id"]]
    assert api.get(f"/api/v1/crm/leads/{lead['id']}").json()["title"] == "Chairs"


def test_an_invalid_lead_names_its_field(anna):
    api = token_client(anna)
    assert api.post("/api/v1/crm/leads/", {"title": ""}).json()["field"] == "title"
    bad = api.post("/api/v1/crm/leads/", {"title": "X", "email": "not an address"})
    assert bad.status_code == 422 and bad.json()["field"] == "email"


def test_someone_elses_lead_outside_the_department_is_a_404(anna, boris):
    lead = LeadFactory(responsible=boris)
    assert token_client(anna).get(f"/api/v1/crm/leads/{lead.pk}").status_code == 404
    assert token_client(anna).get("/api/v1/crm/leads/").json()["items"] == []


def test_editing_a_readable_item_without_the_edit_right_is_a_403_with_the_reason(
    anna, boris, manager_role
):
    from postroom.testing.factories import DepartmentFactory

    DepartmentFactory(members=[anna, boris])
    lead = LeadFactory(responsible=boris)
    api = token_client(anna)
    assert api.get(f"/api/v1/crm/leads/{lead.pk}").status_code == 200
    refused = api.patch(f"/api/v1/crm/leads/{lead.pk}", {"title": "Mine now"})
    assert refused.status_code == 403
    assert "may not edit" in refused.json()["message"]
    assert api.delete(f"/api/v1/crm/leads/{lead.pk}").status_code == 403
    lead.refresh_from_db()
    assert lead.title != "Mine now"


def test_a_user_without_roles_may_not_create(db):
    nobody = UserFactory(username="nora")
    refused = token_client(nobody).post("/api/v1/crm/contacts/", {"name": "Eve"})
    assert refused.status_code == 403
    assert "no CRM role" in refused.json()["message"]


def test_contacts_companies_and_deals_round_trip(anna):
    api = token_client(anna)
    company = api.post(
        "/api/v1/crm/companies/", {"name": "Acme", "domains": ["acme-customer.test"]}
    ).json()
    contact = api.post(
        "/api/v1/crm/contacts/",
        {"name": "Eve", "company_id": company["id"], "emails": ["eve@acme-customer.test"]},
    ).json()
    assert contact["emails"] == ["eve@acme-customer.test"]
    deal = api.post(
        "/api/v1/crm/deals/",
        {"title": "Desks", "amount": "1200.50", "contact_id": contact["id"]},
    )
    assert deal.status_code == 201, deal.content
    assert deal.json()["amount"] == "1200.50"
    patched = api.patch(f"/api/v1/crm/contacts/{contact['id']}", {"phones": ["+49 30 1"]})
    assert patched.json()["phones"] == ["+49 30 1"]
    assert patched.json()["emails"] == ["eve@acme-customer.test"]
    assert api.delete(f"/api/v1/crm/deals/{deal.json()['id']}").status_code == 204
    assert not Deal.objects.exists()


def test_a_deal_cannot_name_a_contact_the_caller_may_not_read(anna, boris):
    hidden = ContactFactory(responsible=boris)
    response = token_client(anna).post(
        "/api/v1/crm/deals/", {"title": "Desks", "contact_id": hidden.pk}
    )
    assert response.status_code == 422
    assert response.json()["field"] == "contact_id"


def test_a_lead_converts_and_keeps_its_emails(sales, anna):
    from postroom.mailboxes.actions import do_grant_mailbox

    do_grant_mailbox(sales, anna)
    lead = LeadFactory(responsible=anna, email="buyer@customer.test", name="Buyer")
    message = ingested(sales, make_email(sender="buyer@customer.test"))
    do_bind_activity(do_record_email_activity(message, direction="in"), lead)
    api = token_client(anna)
    converted = api.post(f"/api/v1/crm/leads/{lead.pk}/convert", {})
    assert converted.status_code == 200, converted.content
    body = converted.json()
    contact = Contact.objects.get(pk=body["contact_id"])
    timeline = api.get(f"/api/v1/crm/contacts/{contact.pk}/timeline").json()
    assert message.pk in [entry["message_id"] for entry in timeline]
    again = api.post(f"/api/v1/crm/leads/{lead.pk}/convert", {})
    assert again.status_code == 409
    assert Lead.objects.get(pk=lead.pk).status == "converted"


def test_an_email_moves_between_deals(sales, anna):
    from postroom.mailboxes.actions import do_grant_mailbox

    do_grant_mailbox(sales, anna)
    first, second = DealFactory(responsible=anna), DealFactory(responsible=anna)
    message = ingested(sales, make_email())
    do_bind_activity(do_record_email_activity(message, direction="in"), first)
    moved = token_client(anna).post(
        "/api/v1/crm/move-email",
        {
            "message_id": message.pk,
            "source": {"kind": "deal", "id": first.pk},
            "target": {"kind": "deal", "id": second.pk},
        },
    )
    assert moved.status_code == 200, moved.content
    assert moved.json()["target"] == {
        "kind": "deal",
        "id": second.pk,
        "title": second.title,
        "label": "Deal",
    }


def test_smart_items_of_a_type(anna):
    smart_type = SmartTypeFactory(name="Repair", slug="repair")
    api = token_client(anna)
    types = api.get("/api/v1/crm/smart-types/").json()
    assert "repair" in [t["slug"] for t in types]
    made = api.post("/api/v1/crm/smart-types/repair/items", {"title": "Broken chair"})
    assert made.status_code == 201, made.content
    item_id = made.json()["id"]
    assert api.get(f"/api/v1/crm/smart-items/{item_id}").json()["smart_type"] == "repair"
    listed = api.get("/api/v1/crm/smart-types/repair/items").json()["items"]
    assert [i["id"] for i in listed] == [item_id]
    assert api.get("/api/v1/crm/smart-types/nothing/items").status_code == 404
    other = SmartItemFactory(smart_type=smart_type, responsible=UserFactory())
    assert api.get(f"/api/v1/crm/smart-items/{other.pk}").status_code == 404
