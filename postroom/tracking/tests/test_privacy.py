"""The organisation's switch and a recipient's opt-out."""

import pytest
from django.urls import reverse

from postroom.crm.items import url_of
from postroom.crm.models import Lead
from postroom.testing.web import logged_in
from postroom.tracking.models import TrackedEmail
from postroom.tracking.switches import do_set_opt_out, is_opted_out

from .conftest import copy_for, html_of, reply_to_customer, send_offer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_organisation_switch_turns_all_tracking_off(sales, alice, smtp_server, settings):
    settings.POSTROOM = {**settings.POSTROOM, "TRACKING": False}
    outbox = send_offer(sales, alice)
    [mail] = smtp_server.wait_for(1)
    assert "/t/o/" not in html_of(mail)
    assert not TrackedEmail.objects.filter(outbox=outbox).exists()


def test_an_opted_out_recipient_gets_an_untracked_copy(sales, alice, smtp_server):
    do_set_opt_out("Carl@Other.test", True)
    outbox = send_offer(sales, alice, to=["anna@customer.test", "carl@other.test"])
    smtp_server.wait_for(2)
    assert "/t/o/" in html_of(copy_for(smtp_server, "anna@customer.test"))
    assert "/t/o/" not in html_of(copy_for(smtp_server, "carl@other.test"))
    assert TrackedEmail.objects.get(outbox=outbox).recipients == ["anna@customer.test"]


def test_a_colleague_opts_a_lead_out_from_its_page(sales, alice, smtp_server):
    reply_to_customer(sales, alice)
    lead = Lead.objects.get(email="anna@customer.test")
    Lead.objects.filter(pk=lead.pk).update(responsible=alice)
    client = logged_in(alice)
    page = client.get(url_of(lead)).content.decode()
    assert "Don't track emails to anna@customer.test" in page
    response = client.post(
        reverse("web:tracking_opt_out"),
        {"address": "anna@customer.test", "next": url_of(lead)},
    )
    assert response.status_code == 302 and response.url == url_of(lead)
    assert is_opted_out("anna@customer.test")
    assert "Track emails to anna@customer.test again" in client.get(url_of(lead)).content.decode()
    client.post(reverse("web:tracking_opt_out"), {"address": "anna@customer.test", "track": "on"})
    assert not is_opted_out("anna@customer.test")
