"""CRM pages and roles: an unreadable item is 404 everywhere, a readable one that may not
be changed is 403 with the reason, and nothing changes."""

import pytest
from django.urls import reverse

from postroom.accounts.roles import do_create_department, do_give_default_roles
from postroom.crm.models import Deal, Lead, SmartType, TimelineEntry
from postroom.testing.factories import (
    CompanyFactory,
    ContactFactory,
    DealFactory,
    LeadFactory,
    SmartItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team():
    """alice and bob are Managers in Sales (read the department's items, edit their own);
    carol is a Manager elsewhere."""
    alice, bob, carol = (UserFactory(username=n) for n in ("alice", "bob", "carol"))
    for user in (alice, bob, carol):
        do_give_default_roles(user)
    do_create_department("Sales team", members=[alice, bob])
    return alice, bob, carol


def _items(owner):
    support = SmartType.objects.get(slug="support-request")
    return {
        "lead": LeadFactory(title="Owned lead", responsible=owner),
        "contact": ContactFactory(name="Owned contact", responsible=owner),
        "company": CompanyFactory(name="Owned company", responsible=owner),
        "deal": DealFactory(title="Owned deal", responsible=owner),
        "smart_item": SmartItemFactory(title="Owned item", smart_type=support, responsible=owner),
    }


EDIT_URLS = {
    "lead": "web:lead_edit",
    "contact": "web:contact_edit",
    "company": "web:company_edit",
    "deal": "web:deal_edit",
    "smart_item": "web:smart_item_edit",
}
DETAIL_URLS = {
    "lead": "web:lead",
    "contact": "web:contact",
    "company": "web:company",
    "deal": "web:deal",
    "smart_item": "web:smart_item",
}


def test_items_of_another_department_are_not_found_anywhere(client, team):
    alice, _, carol = team
    items = _items(carol)
    client.force_login(alice)
    for key, item in items.items():
        assert client.get(reverse(DETAIL_URLS[key], args=[item.pk])).status_code == 404, key
        assert client.get(reverse(EDIT_URLS[key], args=[item.pk])).status_code == 404, key
        comment = reverse("web:crm_comment", args=[key, item.pk])
        assert client.post(comment, {"text": "hi"}).status_code == 404, key
        task = reverse("web:crm_task_create", args=[key, item.pk])
        assert client.post(task, {"title": "x"}).status_code == 404, key
    assert client.post(reverse("web:deal_stage", args=[items["deal"].pk]), {}).status_code == 404
    smart_stage = reverse("web:smart_item_stage", args=[items["smart_item"].pk])
    assert client.post(smart_stage, {}).status_code == 404
    assert client.post(reverse("web:lead_convert", args=[items["lead"].pk])).status_code == 404
    for url in ("web:leads", "web:contacts", "web:companies", "web:deals", "web:deal_board"):
        assert b"Owned" not in client.get(reverse(url)).content, url
    board = reverse("web:smart_board", args=["support-request"])
    assert b"Owned" not in client.get(board).content


def test_a_colleagues_items_are_readable_but_not_editable_and_say_why(client, team):
    alice, bob, _ = team
    items = _items(bob)
    client.force_login(alice)
    for key, item in items.items():
        page = client.get(reverse(DETAIL_URLS[key], args=[item.pk]))
        assert page.status_code == 200, key
        assert b"Add comment" not in page.content and b">Edit<" not in page.content
        response = client.get(reverse(EDIT_URLS[key], args=[item.pk]))
        assert response.status_code == 403, key
        assert "You may not edit" in response.content.decode()
        assert "bob is responsible for it" in response.content.decode()
        comment = reverse("web:crm_comment", args=[key, item.pk])
        assert client.post(comment, {"text": "sneaky"}).status_code == 403, key
    assert not TimelineEntry.objects.filter(kind="comment").exists()

    deal = items["deal"]
    won = deal.pipeline.stages.get(name="Won")
    response = client.post(reverse("web:deal_stage", args=[deal.pk]), {"stage": won.pk})
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "New"
    response = client.post(
        reverse("web:deal_edit", args=[deal.pk]),
        {"title": "Taken over", "pipeline": deal.pipeline.pk, "responsible": alice.pk},
    )
    assert response.status_code == 403
    assert Deal.objects.get(pk=deal.pk).title == "Owned deal"
    response = client.post(reverse("web:lead_convert", args=[items["lead"].pk]))
    assert response.status_code == 403
    assert Lead.objects.get(pk=items["lead"].pk).status == Lead.Status.NEW


def test_a_script_move_that_is_refused_gets_the_reason_as_text(client, team):
    alice, bob, _ = team
    deal = DealFactory(title="Bob's", responsible=bob)
    client.force_login(alice)
    response = client.post(
        reverse("web:deal_stage", args=[deal.pk]),
        {"stage": deal.pipeline.stages.get(name="Won").pk},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode().startswith("You may not edit the deal")


def test_a_user_without_a_crm_role_may_not_create_and_is_told_why(client):
    client.force_login(UserFactory(username="newbie"))
    for name in ("web:lead_create", "web:contact_create", "web:company_create", "web:deal_create"):
        response = client.get(reverse(name))
        assert response.status_code == 403, name
        assert "no CRM role yet" in response.content.decode()
    url = reverse("web:smart_item_create", args=["support-request"])
    assert client.get(url).status_code == 403
    assert b"New</a>" not in client.get(reverse("web:leads")).content


def test_the_owner_may_edit_and_the_edit_button_shows(client, team):
    alice, _, _ = team
    deal = DealFactory(title="Mine", responsible=alice)
    client.force_login(alice)
    page = client.get(reverse("web:deal", args=[deal.pk])).content.decode()
    assert ">Edit<" in page and "Add comment" in page
    assert client.get(reverse("web:deal_edit", args=[deal.pk])).status_code == 200


def test_handing_an_item_to_a_colleague_with_a_stage_change_is_allowed(client, team):
    alice, bob, _ = team
    deal = DealFactory(title="Mine", responsible=alice)
    client.force_login(alice)
    won = deal.pipeline.stages.get(name="Won")
    response = client.post(
        reverse("web:deal_edit", args=[deal.pk]),
        {"title": "Mine", "pipeline": deal.pipeline.pk, "stage": won.pk, "responsible": bob.pk},
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert (deal.stage, deal.responsible) == (won, bob)


def test_the_owner_deletes_an_item_with_its_timeline_and_a_colleague_may_not(client, team):
    alice, bob, _ = team
    mine = DealFactory(title="Mine", responsible=alice)
    bobs = DealFactory(title="Bob's", responsible=bob)
    client.force_login(alice)
    client.post(reverse("web:crm_comment", args=["deal", mine.pk]), {"text": "note"})
    assert b">Delete<" in client.get(reverse("web:deal", args=[mine.pk])).content
    assert b">Delete<" not in client.get(reverse("web:deal", args=[bobs.pk])).content
    response = client.post(reverse("web:crm_delete", args=["deal", bobs.pk]))
    assert response.status_code == 403 and "You may not delete" in response.content.decode()
    assert Deal.objects.filter(pk=bobs.pk).exists()
    response = client.post(reverse("web:crm_delete", args=["deal", mine.pk]))
    assert response.status_code == 302 and response.url == reverse("web:deals")
    assert not Deal.objects.filter(pk=mine.pk).exists()
    assert not TimelineEntry.objects.filter(object_id=mine.pk, kind="comment").exists()
    assert client.post(reverse("web:crm_delete", args=["nothing", 1])).status_code == 404
