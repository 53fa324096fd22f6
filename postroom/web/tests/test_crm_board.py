"""Kanban boards (deals per pipeline, smart items per type), moving cards, CSRF, and the
admin-only smart type page."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.models import Pipeline, SmartItem, SmartType, TimelineEntry
from postroom.testing.factories import (
    DealFactory,
    MailboxFactory,
    SmartItemFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client):
    user = UserFactory(username="alice")
    do_give_default_roles(user)
    client.force_login(user)
    return user


def columns_of(page: str) -> list[int]:
    """The stages whose cards the board shows (collapsed closed columns left out)."""
    pattern = r'<section class="board-column (?:(?!collapsed)[^"])*" data-stage="(\d+)">'
    return [int(c) for c in re.findall(pattern, page)]


def collapsed_of(page: str) -> list[int]:
    """The closed stages shown as narrow columns, a count and a place to drop a card."""
    pattern = r'<section class="board-column [^"]*collapsed" data-stage="(\d+)">'
    return [int(c) for c in re.findall(pattern, page)]


def test_the_deal_board_shows_columns_by_stage_with_cards(client, alice):
    sales = Pipeline.default()
    DealFactory(title="Chairs", responsible=alice, amount="1200.00")
    DealFactory(title="Tables", responsible=alice, stage=sales.stages.get(name="Won"))
    page = client.get(reverse("web:deal_board"), {"closed": "1"}).content.decode()
    assert columns_of(page) == list(sales.stages.values_list("pk", flat=True))
    assert "Chairs" in page and "1200.00" in page and "alice" in page
    new_column = page.split(f'data-stage="{sales.first_stage().pk}"')[1].split("</section>")[0]
    assert "Chairs" in new_column and "Tables" not in new_column


def test_closed_stages_are_hidden_until_asked_for(client, alice):
    sales = Pipeline.default()
    DealFactory(title="Chairs", responsible=alice)
    DealFactory(title="Tables", responsible=alice, stage=sales.stages.get(name="Won"))
    DealFactory(title="Lamps", responsible=alice, stage=sales.stages.get(name="Lost"))
    board = reverse("web:deal_board")
    page = client.get(board).content.decode()
    open_stages = list(sales.stages.filter(semantics="open").values_list("pk", flat=True))
    assert columns_of(page) == open_stages
    assert "Chairs" in page and "Tables" not in page and "Lamps" not in page
    assert 'href="?closed=1"' in page and "Show closed (2)" in page
    # Each closed stage is a narrow column with its count, to drop a card on.
    won, lost = sales.stages.get(name="Won"), sales.stages.get(name="Lost")
    assert collapsed_of(page) == [won.pk, lost.pk]
    assert "Drop a card here to mark it won." in page
    # And a card moves to a closed stage by its form too.
    assert f'<option value="{won.pk}">Won</option>' in page

    page = client.get(board, {"closed": "1"}).content.decode()
    assert columns_of(page) == list(sales.stages.values_list("pk", flat=True))
    assert collapsed_of(page) == []
    assert "Tables" in page and "Lamps" in page
    assert 'href="?">Hide closed</a>' in page


def test_the_closed_toggle_keeps_the_pipeline_and_the_filters(client, alice):
    rentals = Pipeline.objects.create(name="Rentals", sort=5)
    asked = rentals.stages.create(name="Asked", sort=0)
    booked = rentals.stages.create(name="Booked", sort=10, semantics="won")
    DealFactory(title="Van", responsible=alice, pipeline=rentals, stage=booked)
    query = {"pipeline": rentals.pk, "q": "Van"}
    page = client.get(reverse("web:deal_board"), query).content.decode()
    assert columns_of(page) == [asked.pk]
    assert f'href="?pipeline={rentals.pk}&amp;q=Van&amp;closed=1"' in page
    assert "Show closed (1)" in page
    page = client.get(reverse("web:deal_board"), {**query, "closed": "1"}).content.decode()
    assert columns_of(page) == [asked.pk, booked.pk] and "Van" in page
    assert f'href="?pipeline={rentals.pk}&amp;q=Van">Hide closed</a>' in page
    # Filtering again keeps the closed columns shown.
    assert '<input type="hidden" name="closed" value="1">' in page


def test_a_pipeline_without_closed_stages_offers_no_toggle(client, alice):
    rentals = Pipeline.objects.create(name="Rentals", sort=5)
    rentals.stages.create(name="Asked", sort=0)
    page = client.get(reverse("web:deal_board"), {"pipeline": rentals.pk}).content.decode()
    assert "Show closed" not in page


def test_the_smart_board_hides_closed_stages_too(client, alice):
    support = SmartType.objects.get(slug="support-request")
    SmartItemFactory(smart_type=support, title="Broken chair", responsible=alice)
    closed = support.stages.exclude(semantics="open").first()
    SmartItemFactory(smart_type=support, title="Fixed lamp", responsible=alice, stage=closed)
    url = reverse("web:smart_board", args=["support-request"])
    page = client.get(url).content.decode()
    assert columns_of(page) == list(
        support.stages.filter(semantics="open").values_list("pk", flat=True)
    )
    assert "Broken chair" in page and "Fixed lamp" not in page and "Show closed (1)" in page
    page = client.get(url, {"closed": "1"}).content.decode()
    assert closed.pk in columns_of(page) and "Fixed lamp" in page


def test_the_board_of_another_pipeline(client, alice):
    rentals = Pipeline.objects.create(name="Rentals", sort=5)
    rentals.stages.create(name="Asked", sort=0)
    DealFactory(title="Sales deal", responsible=alice)
    DealFactory(
        title="Rental deal", responsible=alice, pipeline=rentals, stage=rentals.first_stage()
    )
    page = client.get(reverse("web:deal_board"), {"pipeline": rentals.pk}).content.decode()
    assert "Rental deal" in page and "Sales deal" not in page and "Asked" in page
    # With the closed cards shown, switching pipelines keeps them shown.
    page = client.get(reverse("web:deal_board"), {"closed": "1"}).content.decode()
    switch = page.split('class="inline pipeline-switch"')[1].split("</form>")[0]
    assert '<input type="hidden" name="closed" value="1">' in switch


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


# ------------------------------------------------------- deleting smart types


def test_an_administrator_deletes_a_smart_type_without_items(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    support = SmartType.objects.get(slug="support-request")
    edit = client.get(reverse("web:smart_type_edit", args=[support.pk])).content.decode()
    delete = reverse("web:smart_type_delete", args=[support.pk])
    assert f'action="{delete}"' in edit
    response = client.post(delete, follow=True)
    assert response.redirect_chain == [(reverse("web:smart_types"), 302)]
    assert "Deleted the smart type Support Request." in response.content.decode()
    assert not SmartType.objects.filter(slug="support-request").exists()


def test_a_smart_type_with_items_or_a_mailbox_rule_is_kept_and_the_page_says_why(client):
    client.force_login(UserFactory(username="root", is_superuser=True))
    support = SmartType.objects.get(slug="support-request")
    SmartItemFactory.create_batch(2, smart_type=support)
    MailboxFactory(
        name="Help desk",
        address="help@acme.test",
        crm_rule="smart",
        crm_smart_type="support-request",
    )
    edit = reverse("web:smart_type_edit", args=[support.pk])
    delete = reverse("web:smart_type_delete", args=[support.pk])
    page = client.get(edit).content.decode()
    assert "has 2 items: delete them first" in page and "Help desk &lt;help@acme.test&gt;" in page
    assert f'action="{delete}"' not in page
    response = client.post(delete, follow=True)
    assert response.redirect_chain == [(edit, 302)]
    flashes = re.findall(r'<p class="flash">(.*?)</p>', response.content.decode())
    assert flashes == [
        "The smart type “Support Request” has 2 items: delete them first.",
        "The CRM rule of this mailbox creates its items: Help desk &lt;help@acme.test&gt;. "
        "Change the rule first.",
    ]
    assert SmartType.objects.filter(pk=support.pk).exists()


def test_only_administrators_delete_smart_types_by_a_csrf_protected_post(client, alice):
    support = SmartType.objects.get(slug="support-request")
    delete = reverse("web:smart_type_delete", args=[support.pk])
    response = client.post(delete)
    assert response.status_code == 403 and "Only an administrator" in response.content.decode()
    root = UserFactory(username="root", is_superuser=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(root)
    assert browser.post(delete).status_code == 403
    assert browser.get(delete).status_code == 405
    assert SmartType.objects.filter(pk=support.pk).exists()
