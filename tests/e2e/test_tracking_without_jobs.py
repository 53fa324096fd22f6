"""Issue 16, point 3 in Chromium: the tracking image and a link loaded while the job
queue is down (no runner: an email queued meanwhile stays unsent) still write their
events, and the sender sees "Read" at once: nothing of an open waits for a job. When
the queue runs again, it sends what waited and counts no open twice."""

import pytest

from postroom.crm.items import url_of
from postroom.crm.models import Lead
from postroom.outbound.actions import Composition, do_send_email
from postroom.outbound.models import OutboxMessage
from postroom.outbound.tests.conftest import run_jobs
from postroom.testing.web import log_in
from postroom.tracking.models import TrackingEvent
from postroom.tracking.tests.conftest import open_and_follow_the_offer, reply_to_customer

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _read_mark(page) -> str:
    return page.locator(".read-mark").first.inner_text()


def test_opens_and_clicks_are_recorded_and_shown_while_the_job_queue_is_down(
    sales, alice, smtp_server, live_server, browser, page, settings
):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "UNDO_SEND_SECONDS": 0,
        "TRACKING_URL": live_server.url,
    }
    _, conversation = reply_to_customer(sales, alice)  # sent: the queue ran until now
    [mail] = smtp_server.wait_for(1)
    lead = Lead.objects.get(email="anna@customer.test")
    Lead.objects.filter(pk=lead.pk).update(responsible=alice)  # hers to read

    # From here on no job runs: an email alice sends now waits in the queue.
    waiting = do_send_email(
        sales,
        Composition(to=["ben@customer.test"], subject="Catalogue", html="<p>Our catalogue</p>"),
        acting_user=alice,
    )
    log_in(page, f"{live_server.url}/conversations/{conversation.pk}/", "alice")
    page.wait_for_url(f"**/conversations/{conversation.pk}/")
    assert _read_mark(page) == "Not read yet"

    # The customer's mail client shows the email and she follows its link.
    open_and_follow_the_offer(browser, mail)

    # Written in the requests themselves, and shown at once, the queue still down.
    assert sorted(TrackingEvent.objects.values_list("kind", flat=True)) == ["click", "open"]
    waiting.refresh_from_db()
    assert waiting.status == OutboxMessage.Status.QUEUED and len(smtp_server.messages) == 1
    page.reload()
    assert _read_mark(page).startswith("Read ")
    assert "1 open" in _read_mark(page) and "1 click" in _read_mark(page)
    page.goto(f"{live_server.url}{url_of(lead)}")
    assert "1 open" in _read_mark(page) and "1 click" in _read_mark(page)

    # The queue runs again: the waiting email goes out; the opens stay as they were.
    run_jobs()
    waiting.refresh_from_db()
    assert waiting.status == OutboxMessage.Status.SENT
    assert TrackingEvent.objects.count() == 2
    page.goto(f"{live_server.url}/conversations/{conversation.pk}/")
    assert "1 open" in _read_mark(page) and "1 click" in _read_mark(page)
