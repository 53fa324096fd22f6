"""The pipeline editor pages: administrators only, CSRF-protected, stages edited as rows,
refusals shown, and the deal form offering every pipeline's stages."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.models import Deal, Pipeline
from postroom.testing.factories import DealFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(client):
    user = UserFactory(username="root", is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def alice():
    user = UserFactory(username="alice")
    do_give_default_roles(user)  # a Manager: creates and edits deals, defines nothing
    return user


def form_data(name, rows, *, initial=0, is_default=False) -> dict:
    """The POST of the editor: `rows` are dicts of stage_id, name, semantics, order, remove."""
    data = {
        "name": name,
        "stages-TOTAL_FORMS": str(len(rows)),
        "stages-INITIAL_FORMS": str(initial),
        "stages-MIN_NUM_FORMS": "0",
        "stages-MAX_NUM_FORMS": "1000",
    }
    if is_default:
        data["is_default"] = "on"
    for i, row in enumerate(rows):
        data[f"stages-{i}-semantics"] = "open"
        for key, value in row.items():
            if key == "remove":
                if value:
                    data[f"stages-{i}-remove"] = "on"
            else:
                data[f"stages-{i}-{key}"] = "" if value is None else str(value)
    return data


def rows_of(pipeline: Pipeline) -> list[dict]:
    return [
        {"stage_id": s.pk, "name": s.name, "semantics": s.semantics, "order": (i + 1) * 10}
        for i, s in enumerate(pipeline.stages.all())
    ]


def create_rentals(client) -> Pipeline:
    rows = [
        {"name": "Asked", "order": 10},
        {"name": "Booked", "semantics": "won", "order": 20},
        {"name": "", "order": None},  # a blank row is ignored
    ]
    response = client.post(reverse("web:pipeline_create"), form_data("Rentals", rows))
    assert response.status_code == 302 and response.url == reverse("web:pipelines")
    return Pipeline.objects.get(name="Rentals")


# ----------------------------------------------------------------- permissions


def test_only_administrators_see_or_change_pipelines(client, alice):
    client.force_login(alice)
    sales = Pipeline.default()
    for url in (
        reverse("web:pipelines"),
        reverse("web:pipeline_create"),
        reverse("web:pipeline_edit", args=[sales.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 403
        assert "Only an administrator" in response.content.decode()
    rows = [{"name": "Asked"}]
    assert client.post(reverse("web:pipeline_create"), form_data("X", rows)).status_code == 403
    assert client.post(reverse("web:pipeline_delete", args=[sales.pk])).status_code == 403
    assert not Pipeline.objects.filter(name="X").exists()
    assert Pipeline.objects.filter(pk=sales.pk).exists()
    assert reverse("web:pipelines") not in client.get(reverse("web:crm")).content.decode()


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(reverse("web:pipelines"))
    assert response.status_code == 302 and "login" in response.url


def test_saving_and_deleting_need_the_csrf_token_and_a_post(root):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(root)
    sales = Pipeline.default()
    rentals = Pipeline.objects.create(name="Rentals", sort=5)
    rentals.stages.create(name="Asked")
    data = form_data("Renamed", rows_of(sales), initial=4, is_default=True)
    assert browser.post(reverse("web:pipeline_edit", args=[sales.pk]), data).status_code == 403
    delete = reverse("web:pipeline_delete", args=[rentals.pk])
    assert browser.post(delete).status_code == 403
    assert browser.get(delete).status_code == 405
    sales.refresh_from_db()
    assert sales.name == "Sales" and Pipeline.objects.filter(pk=rentals.pk).exists()
    page = browser.get(reverse("web:pipeline_edit", args=[rentals.pk])).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(delete, {"csrfmiddlewaretoken": token}).status_code == 302
    assert not Pipeline.objects.filter(pk=rentals.pk).exists()


# ----------------------------------------------------------------- the editor


def test_the_list_shows_pipelines_with_stages_and_deal_counts_and_is_in_the_menu(client, root):
    DealFactory.create_batch(2)
    page = client.get(reverse("web:pipelines")).content.decode()
    sales = Pipeline.default()
    row = page.split(f'data-pipeline="{sales.pk}"')[1].split("</tr>")[0]
    assert "Sales" in row and "(default)" in row and "<td>2</td>" in row
    assert "Won (won)" in row and reverse("web:pipeline_edit", args=[sales.pk]) in row
    assert reverse("web:pipelines") in client.get(reverse("web:crm")).content.decode()


def test_a_new_pipeline_starts_with_the_usual_stages(client, root):
    page = client.get(reverse("web:pipeline_create")).content.decode()
    names = re.findall(r'name="stages-\d+-name"[^>]*value="([^"]*)"', page)
    assert names == ["New", "In progress", "Won", "Lost"]
    assert 'name="stages-TOTAL_FORMS" value="7"' in page  # and three blank rows


def test_an_administrator_creates_a_pipeline_and_the_deal_form_offers_its_stages(client, root):
    rentals = create_rentals(client)
    assert [(s.name, s.semantics) for s in rentals.stages.all()] == [
        ("Asked", "open"),
        ("Booked", "won"),
    ]
    form = client.get(reverse("web:deal_create")).content.decode()
    assert f'<option value="{rentals.pk}">Rentals</option>' in form
    assert "Rentals: Asked" in form and "Rentals: Booked" in form and "Sales: New" in form
    # Pipeline by pipeline: Sales' stages, then Rentals'.
    assert form.index("Sales: Lost") < form.index("Rentals: Asked")
    response = client.post(
        reverse("web:deal_create"),
        {"title": "Van for a week", "pipeline": rentals.pk, "stage": ""},
    )
    assert response.status_code == 302
    deal = Deal.objects.get(title="Van for a week")
    assert (deal.pipeline, deal.stage.name) == (rentals, "Asked")


def test_stages_are_renamed_reordered_and_added(client, root):
    sales = Pipeline.default()
    deal = DealFactory(title="Chairs", stage=sales.stages.get(name="In progress"))
    rows = rows_of(sales)
    rows[1]["name"], rows[1]["order"] = "Talking", 5  # before New
    rows.append({"name": "Offer sent", "order": 25})  # between Talking/New and Won
    rows.append({"name": "", "order": None})
    url = reverse("web:pipeline_edit", args=[sales.pk])
    response = client.post(url, form_data("Sales", rows, initial=4, is_default=True))
    assert response.status_code == 302
    assert [s.name for s in sales.stages.all()] == ["Talking", "New", "Offer sent", "Won", "Lost"]
    deal.refresh_from_db()
    assert deal.stage.name == "Talking"
    page = client.get(url).content.decode()
    assert re.findall(r'name="stages-\d+-name"[^>]*value="([^"]*)"', page) == [
        "Talking",
        "New",
        "Offer sent",
        "Won",
        "Lost",
    ]


def test_an_empty_stage_is_removed_one_holding_deals_is_kept_with_a_message(client, root):
    sales = Pipeline.default()
    DealFactory.create_batch(3, stage=sales.stages.get(name="In progress"))
    url = reverse("web:pipeline_edit", args=[sales.pk])
    rows = rows_of(sales)
    rows[1]["remove"] = True  # In progress: 3 deals
    response = client.post(url, form_data("Sales", rows, initial=4, is_default=True))
    assert response.status_code == 200
    page = response.content.decode()
    assert "The stage “In progress” holds 3 deals: move them to another stage" in page
    assert sales.stages.filter(name="In progress").exists()

    rows = rows_of(sales)
    rows[3]["remove"] = True  # Lost: empty
    response = client.post(url, form_data("Sales", rows, initial=4, is_default=True))
    assert response.status_code == 302
    assert [s.name for s in sales.stages.all()] == ["New", "In progress", "Won"]


def test_the_editor_shows_deals_per_stage(client, root):
    sales = Pipeline.default()
    DealFactory.create_batch(2, stage=sales.stages.get(name="In progress"))
    page = client.get(reverse("web:pipeline_edit", args=[sales.pk])).content.decode()
    rows = re.findall(r'<tr class="stage-row">(.*?)</tr>', page, re.S)
    counts = [re.findall(r"<td>(\d*)</td>", row)[0] for row in rows]
    assert counts == ["0", "2", "0", "0", "", "", ""]


def test_a_pipeline_needs_an_open_stage(client, root):
    rows = [{"name": "Booked", "semantics": "won"}]
    response = client.post(reverse("web:pipeline_create"), form_data("Closed only", rows))
    assert response.status_code == 200
    assert "at least one open stage" in response.content.decode()
    assert not Pipeline.objects.filter(name="Closed only").exists()


# ------------------------------------------------------------------- deleting


def test_a_pipeline_with_deals_is_not_deleted_and_the_page_says_why(client, root):
    rentals = create_rentals(client)
    DealFactory(pipeline=rentals, stage=rentals.first_stage())
    edit = reverse("web:pipeline_edit", args=[rentals.pk])
    page = client.get(edit).content.decode()
    assert "has 1 deal: move them to another pipeline" in page
    assert reverse("web:pipeline_delete", args=[rentals.pk]) not in page
    response = client.post(reverse("web:pipeline_delete", args=[rentals.pk]), follow=True)
    assert response.redirect_chain == [(edit, 302)]
    assert "has 1 deal" in response.content.decode()
    assert Pipeline.objects.filter(pk=rentals.pk).exists()


def test_the_last_pipeline_is_not_deleted(client, root):
    sales = Pipeline.default()
    Pipeline.objects.exclude(pk=sales.pk).delete()
    response = client.post(reverse("web:pipeline_delete", args=[sales.pk]), follow=True)
    assert "the only pipeline" in response.content.decode()
    assert Pipeline.objects.filter(pk=sales.pk).exists()


def test_deleting_the_default_pipeline_names_the_new_default(client, root):
    sales = Pipeline.default()
    rentals = create_rentals(client)
    page = client.get(reverse("web:pipeline_edit", args=[sales.pk])).content.decode()
    assert reverse("web:pipeline_delete", args=[sales.pk]) in page
    response = client.post(reverse("web:pipeline_delete", args=[sales.pk]), follow=True)
    assert response.redirect_chain == [(reverse("web:pipelines"), 302)]
    assert "Rentals is the default pipeline now" in response.content.decode()
    assert Pipeline.default() == rentals
