"""The switches: per email in the compose form, per mailbox on its settings page, per
user on their profile; auto-replies are never tracked."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import OutboxMessage
from postroom.testing.web import logged_in
from postroom.tracking.switches import mailbox_tracks, tracking_wanted, user_tracks

pytestmark = pytest.mark.django_db


def _compose(client, sales, **extra):
    url = reverse("web:compose", args=[sales.pk])
    page = client.get(url)
    assert b'name="untracked"' in page.content
    token = page.context["form"].initial["token"]
    form = {"to": "anna@customer.test", "subject": "Offer", "body_html": "<p>Hi</p>"}
    client.post(url, {**form, "token": token, "action": "send", **extra})
    return OutboxMessage.objects.get()


def test_an_email_is_tracked_unless_the_sender_ticks_the_box(sales, alice):
    outbox = _compose(logged_in(alice), sales)
    assert tracking_wanted(outbox)


def test_the_compose_forms_box_turns_tracking_off_for_the_email(sales, alice):
    outbox = _compose(logged_in(alice), sales, untracked="on")
    assert not tracking_wanted(outbox)


def test_a_manager_turns_tracking_off_for_a_mailbox(sales, alice):
    do_grant_mailbox(sales, alice, MailboxGrant.Level.MANAGE)
    client = logged_in(alice)
    url = reverse("web:mailbox_settings", args=[sales.pk])
    form = client.get(url).context["form"]
    assert form.initial["track_emails"] is True
    data = {k: v for k, v in form.initial.items() if v not in (None, False)}
    data.pop("track_emails")
    data["crm_notify"] = data.get("crm_notify") or []
    response = client.post(url, data)
    assert response.status_code == 302
    assert not mailbox_tracks(sales.pk)


def test_a_user_turns_tracking_off_for_their_emails(alice):
    client = logged_in(alice)
    assert b'name="track" checked' in client.get(reverse("web:profile")).content
    client.post(reverse("web:email_tracking"), {})
    assert not user_tracks(alice.pk)
    client.post(reverse("web:email_tracking"), {"track": "on"})
    assert user_tracks(alice.pk)


def test_auto_replies_are_never_tracked(sales):
    outbox = OutboxMessage(
        mailbox=sales, kind=OutboxMessage.Kind.AUTO_REPLY, composition={"track": True}
    )
    assert not tracking_wanted(outbox)
