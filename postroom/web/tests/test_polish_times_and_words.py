"""Issue 19, points 10 and 11 on the pages: times relative in lists with the exact time
on hover, a message's three times to the second in the reader's zone, and words that
say what they mean (Status on the Leads filter, Received from/until, full names, one
conversion, "Outgoing email by …", "waits until" once)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from postroom.crm.actions import do_convert_lead
from postroom.crm.capture import capture_message
from postroom.crm.models import Lead
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.mail.threads import thread_message
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.web import logged_in
from postroom.web import times

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 7, 3, 9, 15, 42, tzinfo=UTC)


@pytest.fixture
def sales():
    return MailboxFactory(name="Sales", address="sales@acme.test", crm_rule="lead")


@pytest.fixture
def bob(sales):
    user = UserFactory(
        username="bob", first_name="Bob", last_name="Seller", time_zone="Europe/Berlin",
        is_superuser=True,
    )  # fmt: skip
    do_grant_mailbox(sales, user, MailboxGrant.Level.MANAGE)
    return user


def _arrive(sales, uid=1, sender="Carla Cruz <carla@example.test>", subject="Invoice 114"):
    raw = make_email(sender=sender, subject=subject, date=SENT)
    message = parse_stored(
        store_copy(sales.folders.get(name="INBOX"), 1, FetchedMessage(uid, raw)).message
    )
    message.received_at = SENT + timedelta(seconds=7)
    message.save(update_fields=["received_at"])
    conversation = thread_message(message, sales)
    capture_message(message, sales)
    return message, conversation


def test_a_message_shows_its_three_times_to_the_second_in_the_readers_zone(sales, bob):
    message, conversation = _arrive(sales)
    page = logged_in(bob).get(reverse("web:conversation", args=[conversation.pk])).text
    times_block = page[page.index('<dl class="times">') : page.index("</dl>")]
    # Berlin is two hours ahead of UTC in July.
    assert "2026-07-03 11:15:42 CEST" in times_block
    assert "2026-07-03 11:15:49 CEST" in times_block
    created = timezone.localtime(message.created_at, timezone.get_fixed_timezone(0))
    assert f"{created:%M}:{created:%S} CE" in times_block  # to the second, Berlin's zone


def test_lists_show_relative_times_with_the_exact_time_on_hover(sales, bob):
    _arrive(sales)
    page = logged_in(bob).get(reverse("web:leads")).text
    stamp = re.search(r'<time datetime="[^"]+" title="([^"]+)">([^<]+)</time>', page)
    assert stamp, "the Created column is a <time>"
    exact, shown = stamp.groups()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T", exact)
    assert shown.endswith("ago") or shown == "now"


def test_the_leads_filter_says_status_and_search_says_received(sales, bob):
    client = logged_in(bob)
    leads = client.get(reverse("web:leads"))
    assert leads.context["filters"]["stage"].label == "Status"
    assert "Stage" not in leads.text.split('<form class="crm-filters"')[1].split("</form>")[0]
    search = client.get(reverse("web:search")).text
    assert "Received from" in search and "Received until" in search


def test_a_contacts_timeline_shows_its_conversion_once(sales, bob):
    _arrive(sales)
    lead = Lead.objects.get(email="carla@example.test")
    contact, _, deal = do_convert_lead(lead, bob)
    page = logged_in(bob).get(reverse("web:contact", args=[contact.pk])).text
    assert page.count("Converted from the lead") == 1
    # The deal's own page still says it.
    assert "Converted from the lead" in logged_in(bob).get(deal.get_absolute_url()).text


def test_two_items_made_by_hand_keep_their_own_created_lines(sales, bob):
    from postroom.crm.actions import do_create_contact, do_create_deal

    contact = do_create_contact("Dora", emails=["dora@example.test"], acting_user=bob)
    do_create_deal("First order", contact=contact, acting_user=bob)
    page = logged_in(bob).get(reverse("web:contact", args=[contact.pk])).text
    # Two events, the contact's creation and its deal's, even in the same second.
    assert page.count("<p>Created</p>") == 2


def test_waits_until_is_said_once():
    reason = (
        "monthly quota of 1 reached; waits until 2027-01-01 00:00 "
        "(your administrator can raise it on the Limits page)"
    )
    assert times.without_wait(reason) == (
        "monthly quota of 1 reached (your administrator can raise it on the Limits page)"
    )
    rate = "sales@acme.test sends at most 5 emails a minute; waits until 14:02:10"
    assert times.without_wait(rate) == "sales@acme.test sends at most 5 emails a minute"
    assert times.without_wait("") == ""


def test_when_reads_relative_and_keeps_the_exact_time(settings):
    with timezone.override("Europe/Berlin"):
        html = str(times.when(timezone.now() - timedelta(minutes=5)))
        assert ">5 minutes ago</time>" in html.replace("\xa0", " ")
        assert re.search(r'title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CES?T"', html)
        assert str(times.when(None)) == "—"
        assert str(times.when("not a time")) == "not a time"
        exact = str(times.when_exact(SENT))
        assert ">2026-07-03 11:15:42 CEST</time>" in exact


def test_an_email_over_the_quota_says_waits_until_once(sales, bob):
    from postroom.outbound.actions import Composition, do_send_email
    from postroom.outbound.models import OutboxMessage

    message, conversation = _arrive(sales)
    sales.smtp_host, sales.smtp_port, sales.smtp_security = "127.0.0.1", 2525, "none"
    sales.save()  # never reached: the email is held before any attempt
    outbox = do_send_email(
        sales,
        Composition(to=["carla@example.test"], subject="Re: Invoice 114", body="Paid."),
        acting_user=bob,
        kind=OutboxMessage.Kind.REPLY,
        parent=message,
        conversation=conversation,
    )
    until = datetime(2027, 1, 1, tzinfo=UTC)
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        status=OutboxMessage.Status.QUEUED, not_before=None, next_attempt_at=until,
        last_error="monthly quota of 1 reached; waits until 2027-01-01 00:00 "
        "(your administrator can raise it on the Limits page)",
    )  # fmt: skip
    page = logged_in(bob).get(reverse("web:conversation", args=[conversation.pk])).text
    item = page[page.index(f'id="outbox-{outbox.pk}"') :].split("</div>")[0]
    assert item.lower().count("waits until") == 1
    assert "2027-01-01 01:00:00 CET" in item  # Bob's zone, not the server's
    assert "monthly quota of 1 reached (your administrator can raise it" in item
