"""Stage triggers (issue 16, point 4): an open or a click of an item's email moves it,
once per email, on its timeline with the event, undone by hand."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from postroom.crm.models import Deal, SmartItem, TimelineEntry
from postroom.crm.timeline import timeline_of
from postroom.testing.factories import SmartTypeFactory, UserFactory, client_with_open_deal
from postroom.testing.web import logged_in
from postroom.tracking import triggers
from postroom.tracking.models import TriggerFiring

from .conftest import GMAIL_PROXY, THUNDERBIRD, html_of, image_path, link_paths, send_offer

pytestmark = pytest.mark.django_db(transaction=True)


def _load(path: str, ua: str = THUNDERBIRD, ip: str = "198.51.100.7"):
    return Client().get(path, HTTP_USER_AGENT=ua, REMOTE_ADDR=ip)


@pytest.fixture
def admin():
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def deal(alice):
    contact = client_with_open_deal("Anna", "anna@customer.test")
    found = Deal.objects.get(contact=contact)
    Deal.objects.filter(pk=found.pk).update(responsible=alice)
    return Deal.objects.get(pk=found.pk)


@pytest.fixture
def opened_moves_to_next(deal, admin):
    pipeline = deal.pipeline
    first, second, third = list(pipeline.stages.all())[:3]
    triggers.do_save_triggers(
        pipeline, {(first.pk, "open"): second.pk, (second.pk, "click"): third.pk}, acting_user=admin
    )
    return first, second, third


def _delivered(sales, alice, smtp_server, deal):
    send_offer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    assert deal.pk in [
        e.object_id for e in TimelineEntry.objects.filter(kind="activity", object_id=deal.pk)
    ], "the sent email is on the deal's timeline"
    return html_of(mail)


def test_an_open_moves_the_deal_once_and_the_timeline_says_why(
    sales, alice, smtp_server, deal, opened_moves_to_next
):
    first, second, _ = opened_moves_to_next
    html = _delivered(sales, alice, smtp_server, deal)
    _load(image_path(html))
    deal.refresh_from_db()
    assert deal.stage == second
    entry = timeline_of(deal).filter(kind="stage").first()
    assert entry.text.startswith(f"{first.name} → {second.name}")
    assert "anna@customer.test opened “Our offer”" in entry.text
    [firing] = TriggerFiring.objects.all()
    assert (firing.kind, firing.recipient, firing.entry) == ("open", "anna@customer.test", entry)
    assert firing.event is not None and firing.event.kind == "open"
    # Moved back by hand, a second open of the same email does not move it again.
    Deal.objects.filter(pk=deal.pk).update(stage=first)
    _load(image_path(html), ip="203.0.113.9")
    deal.refresh_from_db()
    assert deal.stage == first
    assert TriggerFiring.objects.count() == 1


def test_a_click_fires_the_click_trigger_of_the_stage_the_open_moved_to(
    sales, alice, smtp_server, deal, opened_moves_to_next
):
    _, _, third = opened_moves_to_next
    html = _delivered(sales, alice, smtp_server, deal)
    _load(image_path(html))
    _load(link_paths(html)[0])
    deal.refresh_from_db()
    assert deal.stage == third
    assert sorted(TriggerFiring.objects.values_list("kind", flat=True)) == ["click", "open"]


def test_a_prefetch_moves_nothing(sales, alice, smtp_server, deal, opened_moves_to_next):
    first, _, _ = opened_moves_to_next
    html = _delivered(sales, alice, smtp_server, deal)
    _load(image_path(html), ua=GMAIL_PROXY, ip="66.249.84.1")
    deal.refresh_from_db()
    assert deal.stage == first
    assert not TriggerFiring.objects.exists()


def test_a_person_undoes_the_move_from_the_timeline(
    sales, alice, smtp_server, deal, opened_moves_to_next
):
    first, second, _ = opened_moves_to_next
    html = _delivered(sales, alice, smtp_server, deal)
    _load(image_path(html))
    page = logged_in(alice).get(f"/deals/{deal.pk}/").content.decode()
    assert "Undo this move" in page
    [firing] = TriggerFiring.objects.all()
    response = logged_in(alice).post(f"/tracking/triggers/{firing.pk}/undo/")
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage == first
    firing.refresh_from_db()
    assert firing.undone_by == alice
    newest = timeline_of(deal).filter(kind="stage").first()
    assert (newest.text, newest.author) == (f"{second.name} → {first.name}", alice)
    page = logged_in(alice).get(f"/deals/{deal.pk}/").content.decode()
    assert "Undone by Alice" in page
    # Twice is refused with a reason, not a crash.
    again = logged_in(alice).post(f"/tracking/triggers/{firing.pk}/undo/", follow=True)
    assert "undone already" in again.content.decode()


def test_someone_who_may_not_edit_the_deal_cannot_undo(
    sales, alice, smtp_server, deal, opened_moves_to_next
):
    html = _delivered(sales, alice, smtp_server, deal)
    _load(image_path(html))
    [firing] = TriggerFiring.objects.all()
    stranger = UserFactory(username="bob")
    response = logged_in(stranger).post(f"/tracking/triggers/{firing.pk}/undo/")
    assert response.status_code == 403
    firing.refresh_from_db()
    assert firing.undone_at is None


def test_an_admin_sets_triggers_in_the_pipeline_editor(deal, admin):
    pipeline = deal.pipeline
    first, second = list(pipeline.stages.all())[:2]
    page = logged_in(admin).get(f"/crm/pipelines/{pipeline.pk}/").content.decode()
    assert "Email triggers" in page
    response = logged_in(admin).post(
        f"/crm/pipeline/{pipeline.pk}/triggers/", {f"open_{first.pk}": str(second.pk)}
    )
    assert response.status_code == 302
    assert triggers.triggers_of(pipeline) == {(first.pk, "open"): second.pk}
    page = logged_in(admin).get(f"/crm/pipelines/{pipeline.pk}/").content.decode()
    assert f'<option value="{second.pk}" selected>' in page


def test_smart_type_stages_have_triggers_too(alice, admin):
    smart_type = SmartTypeFactory(name="Support Request", slug="support-request")
    new, progress = list(smart_type.stages.all())[:2]
    response = logged_in(admin).post(
        f"/crm/smart-type/{smart_type.pk}/triggers/", {f"click_{new.pk}": str(progress.pk)}
    )
    assert response.status_code == 302
    assert triggers.triggers_of(smart_type) == {(new.pk, "click"): progress.pk}
    assert (
        "Email triggers"
        in logged_in(admin).get(f"/crm/smart-types/{smart_type.pk}/").content.decode()
    )
    assert SmartItem.objects.count() == 0


def test_bad_trigger_input_is_refused_with_a_reason(deal, admin, alice):
    pipeline = deal.pipeline
    first = pipeline.stages.first()
    other = SmartTypeFactory().stages.first()
    client = logged_in(admin)
    for value, reason in [
        ("x1", "not a stage"),
        (str(other.pk), "not of"),
        (str(first.pk), "to itself"),
    ]:
        page = client.post(
            f"/crm/pipeline/{pipeline.pk}/triggers/", {f"open_{first.pk}": value}, follow=True
        ).content.decode()
        assert reason in page
    assert triggers.triggers_of(pipeline) == {}
    assert logged_in(alice).post(f"/crm/pipeline/{pipeline.pk}/triggers/", {}).status_code == 403
    assert client.post(f"/crm/elsewhere/{pipeline.pk}/triggers/", {}).status_code == 404
    with pytest.raises(ValidationError):
        triggers.do_save_triggers(pipeline, {(first.pk, "read"): None}, acting_user=admin)
