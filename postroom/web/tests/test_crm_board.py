"""Kanban boards (deals per pipeline, smart items per type), moving cards, CSRF, and the
admin-only smart type page."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.models import Pipeline, SmartItem, SmartType, TimelineEntry
from postroom.testing.factories import DealFactory, SmartItemFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice")
    do_give_default_roles(user)
    client.force_login(user)
    return user


def test_the_deal_board_shows_columns_by_stage_with_cards(client, alice):
    sales = Pipeline.default()
    DealFactory(title="Chairs", responsible=alice, amount="1200.00")
    DealFactory(title="Tables", responsible=alice, stage=sales.stages.get(name="Won"))
    page = client.get(reverse("web:deal_board")).content.decode()
    columns = re.findall(r'<section class="board-column[^"]*" data-stage="(\d+)">', page)
    assert [int(c) for c in columns] == list(sales.stages.values_list("pk", flat=True))
    assert "Chairs" in page and "1200.00" in page and "alice" in page
    new_column = page.split(f'data-stage="{sales.first_stage().pk}"')[1].split("</section>")[0]
    assert "Chairs" in new_column and "Tables" not in new_column


def test_the_board_of_another_pipeline(client, alice):
    rentals = Pipeline.objects.create(name="Rentals", sort=5)
    rentals.stages.create(name="Asked", sort=0)
    DealFactory(title="Sales deal", responsible=alice)
    DealFactory(
        title="Rental deal", responsible=alice, pipeline=rentals, stage=rentals.first_stage()
    )
    page = client.get(reverse("web:deal_board"), {"pipeline": rentals.pk}).content.decode()
    assert "Rental deal" in page and "Sales deal" not in page and "Asked" in page


def test_moving_a_card_changes_the_stage_and_is_on_the_timeline(client, alice):
    deal = DealFactory(title="Chairs", responsible=alice)
    in_progress = deal.pipeline.stages.get(name="In progress")
    response = client.post(
        reverse("web:deal_stage", args=[deal.pk]),
        {"stage": in_progress.pk},
        headers={"X-Requested-With": "fetch"},
    )
    assert (response.status_code, response.content) == (200, b"moved")
    deal.refresh_from_db()
    assert deal.stage == in_progress
    entry = TimelineEntry.objects.get(object_id=deal.pk, kind="stage")
    assert entry.text == "New → In progress" and entry.author == alice


def test_the_fallback_form_moves_and_returns_to_the_board(client, alice):
    deal = DealFactory(title="Chairs", responsible=alice)
    won = deal.pipeline.stages.get(name="Won")
    board = reverse("web:deal_board")
    response = client.post(
        reverse("web:deal_stage", args=[deal.pk]), {"stage": won.pk, "next": board}
    )
    assert response.status_code == 302 and response.url == board
    deal.refresh_from_db()
    assert deal.stage == won and deal.closed_at is not None


def test_a_stage_of_another_pipeline_or_type_is_refused(client, alice):
    deal = DealFactory(title="Chairs", responsible=alice)
    support = SmartType.objects.get(slug="support-request")
    response = client.post(
        reverse("web:deal_stage", args=[deal.pk]),
        {"stage": support.first_stage().pk},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 400
    deal.refresh_from_db()
    assert deal.stage.name == "New"


def test_moving_needs_the_csrf_token(alice):
    deal = DealFactory(title="Chairs", responsible=alice)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    url = reverse("web:deal_stage", args=[deal.pk])
    won = deal.pipeline.stages.get(name="Won").pk
    assert browser.post(url, {"stage": won}).status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "New"
    page = browser.get(reverse("web:deal_board")).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = browser.post(
        url, {"stage": won}, headers={"X-CSRFToken": token, "X-Requested-With": "fetch"}
    )
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage.name == "Won"


def test_the_smart_type_board_moves_items(client, alice):
    support = SmartType.objects.get(slug="support-request")
    item = SmartItemFactory(smart_type=support, title="Broken chair", responsible=alice)
    page = client.get(reverse("web:smart_board", args=["support-request"])).content.decode()
    assert "Broken chair" in page
    assert reverse("web:smart_item_stage", args=[item.pk]) in page
    last = support.stages.last()
    client.post(reverse("web:smart_item_stage", args=[item.pk]), {"stage": last.pk})
    assert SmartItem.objects.get(pk=item.pk).stage == last


def test_cards_the_user_may_not_move_have_no_move_url(client, alice):
    from postroom.accounts.roles import do_create_department

    bob = UserFactory(username="bob")
    do_give_default_roles(bob)
    do_create_department("Sales team", members=[alice, bob])
    deal = DealFactory(title="Bob's deal", responsible=bob)
    page = client.get(reverse("web:deal_board")).content.decode()
    assert "Bob&#x27;s deal" in page
    assert reverse("web:deal_stage", args=[deal.pk]) not in page


# ------------------------------------------------------------- smart types


def test_only_administrators_define_smart_types(client, alice):
    response = client.get(reverse("web:smart_types"))
    assert response.status_code == 403
    assert "Only an administrator" in response.content.decode()
    assert client.post(reverse("web:smart_type_create"), {"name": "X"}).status_code == 403
    assert not SmartType.objects.filter(name="X").exists()


def test_an_administrator_defines_a_smart_type_with_stages_and_fields(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.post(
        reverse("web:smart_type_create"),
        {
            "name": "Warranty Claim",
            "slug": "",
            "stages": "Reported\nChecking\nReplaced: won\nRejected: lost",
            "field_specs": "Serial number | text\nUnits | number\nSeverity | choice | Low, High",
        },
    )
    assert response.status_code == 302
    claim = SmartType.objects.get(slug="warranty-claim")
    assert [(s.name, s.semantics) for s in claim.stages.all()] == [
        ("Reported", "open"),
        ("Checking", "open"),
        ("Replaced", "won"),
        ("Rejected", "lost"),
    ]
    assert [(f.key, f.kind, f.choices) for f in claim.fields.all()] == [
        ("serial_number", "text", []),
        ("units", "number", []),
        ("severity", "choice", ["Low", "High"]),
    ]
    menu = client.get(reverse("web:crm")).content.decode()
    assert "Warranty Claim" in menu
    form = client.get(reverse("web:smart_item_create", args=["warranty-claim"])).content.decode()
    assert 'name="data_serial_number"' in form and "High" in form


def test_a_stage_holding_items_cannot_be_removed(client):
    root = UserFactory(username="root", is_superuser=True)
    client.force_login(root)
    support = SmartType.objects.get(slug="support-request")
    SmartItemFactory(smart_type=support, title="Open request")
    response = client.post(
        reverse("web:smart_type_edit", args=[support.pk]),
        {"name": "Support Request", "slug": "support-request", "stages": "Done: won\nTriage"},
    )
    assert response.status_code == 200
    assert "still holds items" in response.content.decode()
    assert support.stages.filter(name="New").exists()


def test_a_smart_type_needs_an_open_stage_and_valid_field_lines(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    response = client.post(
        reverse("web:smart_type_create"),
        {"name": "Bad", "stages": "Only: won", "field_specs": "Size | colour"},
    )
    page = response.content.decode()
    assert "at least one open stage" in page and "kind one of text" in page
    assert not SmartType.objects.filter(name="Bad").exists()
