"""Issue 16 end to end: an email sent through the Outbox to the SMTP sink, its HTML
opened in Chromium as the recipient's mail client would show it: the image loads, a
link is clicked and lands on the original page; the sender sees "Read", and the
pipeline's trigger moved the customer's deal, which its timeline says."""

import pytest

from postroom.testing.web import logged_in
from postroom.tracking.models import TrackingEvent
from postroom.tracking.tests.conftest import open_and_follow_the_offer, reply_to_customer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_recipient_opens_and_clicks_and_the_sender_sees_read(
    sales, alice, smtp_server, live_server, browser, settings
):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "UNDO_SEND_SECONDS": 0,
        "TRACKING_URL": live_server.url,
    }
    from postroom.crm.models import Deal
    from postroom.testing.factories import UserFactory, client_with_open_deal
    from postroom.tracking.triggers import do_save_triggers

    deal = Deal.objects.get(contact=client_with_open_deal("Anna", "anna@customer.test"))
    Deal.objects.filter(pk=deal.pk).update(responsible=alice)
    first, second = list(deal.pipeline.stages.all())[:2]
    admin = UserFactory(username="root", is_superuser=True)
    do_save_triggers(deal.pipeline, {(first.pk, "open"): second.pk}, acting_user=admin)
    _, conversation = reply_to_customer(sales, alice)
    [mail] = smtp_server.wait_for(1)

    cookies, landed_on = open_and_follow_the_offer(browser, mail)
    assert not cookies  # the endpoints set none
    assert landed_on == "Offer"

    events = list(TrackingEvent.objects.values_list("kind", "is_prefetch", "client"))
    assert sorted(events) == [("click", False, "browser"), ("open", False, "browser")]
    page = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert 'class="read-mark read"' in page and "1 open" in page and "1 click" in page
    deal.refresh_from_db()
    assert deal.stage == second
    timeline = logged_in(alice).get(f"/deals/{deal.pk}/").content.decode()
    assert f"{first.name} → {second.name} (trigger: anna@customer.test opened" in timeline
    assert "Undo this move" in timeline
