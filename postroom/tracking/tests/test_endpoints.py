"""The public endpoints: the open image and the link redirect, loaded from a delivered
email's HTML as a recipient's client would; forged, cut, replayed and stale tokens."""

import pytest
from django.test import Client

from postroom.outbound.models import OutboxMessage
from postroom.testing.web import logged_in
from postroom.tracking import tokens
from postroom.tracking.models import TrackingEvent

from .conftest import (
    GMAIL_PROXY,
    THUNDERBIRD,
    html_of,
    image_path,
    link_paths,
    reply_to_customer,
    send_offer,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _load(path: str, ua: str = THUNDERBIRD, ip: str = "198.51.100.7", **extra):
    return Client().get(path, HTTP_USER_AGENT=ua, REMOTE_ADDR=ip, **extra)


@pytest.fixture
def delivered(sales, alice, smtp_server):
    outbox = send_offer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    return outbox, html_of(mail)


def test_the_image_records_an_open(delivered):
    outbox, html = delivered
    response = _load(image_path(html))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert "no-store" in response["Cache-Control"]
    [event] = TrackingEvent.objects.all()
    assert (event.kind, event.recipient, event.client) == (
        "open",
        "anna@customer.test",
        "thunderbird",
    )
    assert not event.is_prefetch


def test_the_endpoints_set_no_cookie_and_say_nothing_of_the_organisation(delivered):
    _, html = delivered
    for path in [image_path(html), link_paths(html)[0], "/t/o/1.0:forged.gif"]:
        response = _load(path)
        assert "Set-Cookie" not in response.headers
        assert not response.cookies
        assert b"acme" not in response.content.lower()
        assert b"Sales" not in response.content


def test_a_link_redirects_to_the_emails_url_and_counts_as_an_open(delivered):
    outbox, html = delivered
    response = _load(link_paths(html)[0])
    assert response.status_code == 302
    assert response["Location"] == "https://shop.test/offer?id=7&lang=en"
    kinds = sorted(TrackingEvent.objects.values_list("kind", flat=True))
    assert kinds == ["click", "open"]


def test_a_proxy_fetching_on_delivery_is_a_prefetch_not_a_read(delivered):
    outbox, html = delivered
    _load(image_path(html), ua=GMAIL_PROXY, ip="66.249.84.1")
    [event] = TrackingEvent.objects.all()
    assert event.is_prefetch and event.client == "gmail"
    outbox.tracking.refresh_from_db()
    assert outbox.tracking.first_read_at is None


def test_one_open_loaded_twice_counts_once(delivered):
    _, html = delivered
    for _ in range(3):  # a client fetching twice, a reload, a replayed URL
        assert _load(image_path(html)).status_code == 200
    assert TrackingEvent.objects.count() == 1
    _load(image_path(html), ip="203.0.113.9")  # another place: another open
    assert TrackingEvent.objects.count() == 2


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # altered signature
        lambda t: t[: len(t) // 2],  # truncated
        lambda t: t.replace(t.split(":")[0], "9999.0"),  # another email, old signature
        lambda t: "",
        lambda t: t.split(":")[0],  # no signature
    ],
)
def test_forged_tokens_are_a_plain_404(delivered, mangle):
    _, html = delivered
    token = image_path(html)[len("/t/o/") : -len(".gif")]
    response = _load(f"/t/o/{mangle(token)}.gif")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/plain")
    assert not TrackingEvent.objects.exists()


def test_an_open_token_is_no_click_token_and_unknown_links_are_404(delivered):
    outbox, html = delivered
    token = image_path(html)[len("/t/o/") : -len(".gif")]
    assert _load(f"/t/c/{token}").status_code == 404
    assert _load(f"/t/c/{tokens.click_token(outbox.pk, 0, 99)}").status_code == 404
    assert _load(f"/t/o/{tokens.open_token(outbox.pk, 5)}.gif").status_code == 404
    assert not TrackingEvent.objects.exists()


def test_no_open_redirect(delivered):
    _, html = delivered
    link = link_paths(html)[0]
    for path in [
        "/t/c/https://evil.test/",
        "/t/c/" + "https%3A%2F%2Fevil.test",
        link + "?next=https://evil.test/",
        link.rsplit(":", 1)[0] + ":" + "x" * 43,
    ]:
        response = _load(path)
        assert "evil" not in response.get("Location", "")
    assert _load("/t/c/https%3A%2F%2Fevil.test").status_code == 404


def test_a_token_of_a_deleted_email_is_a_404(delivered):
    outbox, html = delivered
    OutboxMessage.objects.filter(pk=outbox.pk).delete()
    assert _load(image_path(html)).status_code == 404
    assert _load(link_paths(html)[0]).status_code == 404


def test_loads_are_rate_limited_per_ip(delivered, settings):
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING_RATE_PER_MINUTE": 3}
    _, html = delivered
    codes = [_load(image_path(html)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert _load(image_path(html), ip="203.0.113.9").status_code == 200


def test_the_conversation_shows_read_with_the_count(sales, alice, smtp_server):
    outbox, conversation = reply_to_customer(sales, alice)
    page = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert "Not read yet" in page
    [mail] = smtp_server.wait_for(1)
    _load(image_path(html_of(mail)))
    _load(image_path(html_of(mail)), ip="203.0.113.9")
    page = logged_in(alice).get(f"/conversations/{conversation.pk}/").content.decode()
    assert 'class="read-mark read"' in page
    assert "2 opens" in page


def test_the_sender_is_told_of_the_first_real_open_once(sales, alice, smtp_server):
    from postroom.accounts.models import Notification

    outbox, conversation = reply_to_customer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    _load(image_path(html_of(mail)), ua=GMAIL_PROXY)  # a prefetch tells nobody
    assert not Notification.objects.filter(user=alice, text__contains="read").exists()
    _load(image_path(html_of(mail)))
    _load(image_path(html_of(mail)), ip="203.0.113.9")
    [note] = Notification.objects.filter(user=alice, text__contains="read")
    assert "anna@customer.test" in note.text
    assert note.kind == "email_opened"
    assert note.url == f"/conversations/{conversation.pk}/"


def test_a_sender_who_turned_the_kind_off_is_not_told(sales, alice, smtp_server):
    from postroom.accounts.models import Notification
    from postroom.accounts.notify import do_set_preferences

    do_set_preferences(alice, {"email_opened": (False, False)})
    reply_to_customer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    _load(image_path(html_of(mail)))
    assert not Notification.objects.filter(user=alice, kind="email_opened").exists()


def test_the_crm_timeline_shows_read(sales, alice, smtp_server):
    from postroom.crm.items import url_of
    from postroom.crm.models import Lead

    reply_to_customer(sales, alice)
    lead = Lead.objects.get(email="anna@customer.test")
    Lead.objects.filter(pk=lead.pk).update(responsible=alice)  # hers to read
    [mail] = smtp_server.wait_for(1)
    assert "Not read yet" in logged_in(alice).get(url_of(lead)).content.decode()
    _load(image_path(html_of(mail)))
    page = logged_in(alice).get(url_of(lead)).content.decode()
    assert 'class="read-mark read"' in page
    assert "1 open" in page
