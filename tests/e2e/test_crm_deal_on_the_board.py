"""In a real browser: a deal made from a contact's page, dragged across the kanban board
(onto the narrow Won column), and its progress seen on the contact's
timeline."""

import pytest

from postroom.accounts.roles import do_give_default_roles
from postroom.crm.models import Deal
from postroom.testing.factories import ContactFactory, UserFactory
from postroom.testing.web import log_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_deal_is_created_moved_on_the_board_and_seen_on_the_contacts_timeline(live_server, page):
    alice = UserFactory(username="alice")
    do_give_default_roles(alice)  # Manager: creates items, edits her own
    ContactFactory(name="Anna Client", email="anna@customer.test", responsible=alice)

    # Generous: under a loaded machine (the whole suite on two databases) 15 s was short.
    page.set_default_timeout(60_000)
    log_in(page, f"{live_server.url}/contacts/", "alice")
    page.wait_for_url("**/contacts/")
    page.click("text=Anna Client")
    page.click("text=New deal")
    page.fill("input[name=title]", "40 chairs")
    page.fill("input[name=amount]", "1200")
    page.click("form.crm-form button[type=submit]")
    page.wait_for_url("**/deals/*/")
    deal = Deal.objects.get(title="40 chairs")
    assert deal.contact.name == "Anna Client" and deal.responsible == alice

    page.goto(f"{live_server.url}/deals/board/")
    card = page.locator(f"#card-{deal.pk}")
    target = page.locator(
        f'section[data-stage="{deal.pipeline.stages.get(name="In progress").pk}"]'
    )
    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal.pk}/stage/")) as moved:
        card.drag_to(target)
    assert moved.value.status == 200
    assert target.locator(f"#card-{deal.pk}").count() == 1
    deal.refresh_from_db()
    assert deal.stage.name == "In progress"

    # Won and lost are narrow columns without their cards; dropping the card on Won
    # closes the deal, and the card leaves the board.
    won = deal.pipeline.stages.get(name="Won")
    won_column = page.locator(f'section.collapsed[data-stage="{won.pk}"]')
    with page.expect_response(lambda r: r.url.endswith(f"/deals/{deal.pk}/stage/")) as moved:
        page.locator(f"#card-{deal.pk}").drag_to(won_column)
    assert moved.value.status == 200
    # Not wait_for_function: the page's Content-Security-Policy refuses eval.
    page.wait_for_selector(f"#card-{deal.pk}", state="detached")
    assert won_column.locator(".count").inner_text() == "1"
    deal.refresh_from_db()
    assert deal.stage == won and deal.closed_at is not None
    page.click("a.closed-toggle")
    page.wait_for_url("**/deals/board/?closed=1")
    assert page.locator(f'section[data-stage="{won.pk}"] #card-{deal.pk}').count() == 1

    page.goto(f"{live_server.url}/contacts/")
    page.click("text=Anna Client")
    timeline = page.locator("ol.timeline").inner_text()
    assert "New → In progress" in timeline and "In progress → Won" in timeline
    assert "40 chairs" in timeline
