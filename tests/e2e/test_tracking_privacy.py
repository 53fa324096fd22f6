"""Issue 16 end to end, the points test_tracking.py leaves: the sender's switches in the
browser (the compose form's box, a lead's opt-out; points 1 and 6), an image proxy's
prefetch labelled and not read, forged tokens and a flood answered plainly (points 1-3),
old events pruned while Read stays, and no request leaves the site (point 6)."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.utils import timezone

from postroom.crm.items import url_of
from postroom.crm.models import Lead
from postroom.outbound.models import OutboxMessage
from postroom.outbound.tests.conftest import run_jobs
from postroom.testing.web import log_in, logged_in
from postroom.tracking import jobs
from postroom.tracking.models import TrackedEmail, TrackingEvent
from postroom.tracking.tests.conftest import (
    GMAIL_PROXY,
    READER,
    html_of,
    image_path,
    reply_to_customer,
    send_offer,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tracked_here(settings, live_server):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "UNDO_SEND_SECONDS": 0,
        "TRACKING_URL": live_server.url,
    }
    cache.clear()  # the per-IP counters


def test_the_sender_turns_tracking_off_for_an_email_and_for_a_lead_in_the_browser(
    sales, alice, smtp_server, live_server, page, tracked_here
):
    origins = set()
    page.on("request", lambda request: origins.add(urlsplit(request.url).netloc))

    # The compose form's box: this email goes out without image or tracked links.
    # A saved time zone: no page reloads itself to send the browser's (timezone.js),
    # which would lose what was typed.
    type(alice).objects.filter(pk=alice.pk).update(time_zone="Europe/Berlin")
    log_in(page, f"{live_server.url}/mailboxes/{sales.pk}/compose/", "alice")
    page.fill("input[name=to]", "bert@customer.test")
    page.fill("input[name=subject]", "Untracked offer")
    page.locator("trix-editor").click()
    page.keyboard.type("Our offer, without counting who reads it.")
    page.get_by_label("Don't track opens and clicks").check()
    page.wait_for_selector(".draft-status:has-text('Draft saved')")
    assert page.input_value("input[name=to]") == "bert@customer.test"
    page.get_by_role("button", name="Send", exact=True).click()
    page.get_by_role("heading", name="Outbox").wait_for()
    run_jobs()
    [untracked] = smtp_server.wait_for(1)
    assert "bert@customer.test" in untracked.rcpt_tos
    assert "/t/" not in html_of(untracked)
    outbox = OutboxMessage.objects.get(subject="Untracked offer")
    assert not TrackedEmail.objects.filter(outbox=outbox).exists()

    # A lead's page: mail to its address is no longer tracked, for anyone.
    reply_to_customer(sales, alice)
    smtp_server.wait_for(2)
    lead = Lead.objects.get(email="anna@customer.test")
    Lead.objects.filter(pk=lead.pk).update(responsible=alice)
    page.goto(f"{live_server.url}{url_of(lead)}")
    page.get_by_role("button", name="Don't track emails to anna@customer.test").click()
    page.get_by_role("button", name="Track emails to anna@customer.test again").wait_for()
    send_offer(sales, alice)
    mail = smtp_server.wait_for(3)[-1]
    assert "anna@customer.test" in mail.rcpt_tos and "/t/" not in html_of(mail)

    # Nothing the pages loaded came from anywhere but Postroom itself.
    assert origins == {urlsplit(live_server.url).netloc}


def test_prefetch_forgery_and_flood_get_plain_answers_and_old_events_are_pruned(
    sales, alice, smtp_server, live_server, browser, tracked_here, settings
):
    _, conversation = reply_to_customer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    html = html_of(mail)

    # Gmail's image proxy fetches the image on delivery: labelled, not a person reading.
    proxy = browser.new_context(user_agent=GMAIL_PROXY)
    with proxy.new_page().expect_response(lambda r: "/t/o/" in r.url) as loaded:
        proxy.pages[0].set_content(html)
    assert loaded.value.status == 200
    proxy.close()
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.client, event.is_prefetch) == ("open", "gmail", True)
    page_html = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert 'class="read-mark read"' not in page_html

    reader = browser.new_context(user_agent=READER)
    tab = reader.new_page()
    # A forged or cut token: a plain 404 that names nothing of the organisation.
    path = image_path(html)
    for forged in [path[:-10] + ".gif", path.replace("/t/o/", "/t/o/9"), "/t/c/https://evil.test/"]:
        response = tab.goto(f"{live_server.url}{forged}")
        assert response.status == 404
        body = tab.content()
        assert "Not found" in body
        assert not any(word in body for word in ("Acme", "acme", "Sales", "Postroom"))
    assert TrackingEvent.objects.count() == 1

    # The person opens the email, loading its image again and again: one open; a flood
    # from one address is refused past the per-minute limit, and nothing crashes.
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_RATE_PER_MINUTE": 5}
    cache.clear()
    codes = [tab.goto(f"{live_server.url}{path}").status for _ in range(8)]
    assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
    assert not reader.cookies()
    reader.close()
    real = TrackingEvent.objects.filter(is_prefetch=False)
    assert real.count() == 1
    page_html = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert 'class="read-mark read"' in page_html and "1 open" in page_html

    # Older than the kept days: the prune job removes the events; the Read mark stays.
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_KEEP_DAYS": 30}
    TrackingEvent.objects.update(at=timezone.now() - timedelta(days=31))
    jobs.prune_events.enqueue()
    run_jobs()
    assert not TrackingEvent.objects.exists()
    page_html = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert (
        'class="read-mark read"' in page_html
        and "open" not in page_html.split("read-mark")[1][:300]
    )
