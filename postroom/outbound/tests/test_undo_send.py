"""Undo-send: an email waits its undo window before the job runner may send it, and
until its first attempt the sender can take it back as a draft."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom.outbound import delivery
from postroom.outbound.actions import Composition, UndoError, do_send_email, do_undo_send
from postroom.outbound.models import Draft, OutboxMessage

from .conftest import run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboxMessage.Status


@pytest.fixture
def undo_window(settings):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 30}


def _send(mailbox, user, **options) -> OutboxMessage:
    composition = Composition(
        to=["Anna <anna@customer.test>"],
        cc=["bob@customer.test"],
        subject="Offer",
        html="<div>Here is <strong>our</strong> offer.</div>",
    )
    return do_send_email(mailbox, composition, acting_user=user, **options)


def test_the_job_runner_does_not_send_before_the_window_ends(
    sales, alice, smtp_server, undo_window
):
    before = timezone.now()
    outbox = _send(sales, alice)
    assert (
        before + timedelta(seconds=29) < outbox.not_before <= timezone.now() + timedelta(seconds=30)
    )
    job = DBTaskResult.objects.get(status="READY")
    assert job.run_after == outbox.not_before

    # A worker that takes the job early (a clock behind, a duplicate) sends nothing.
    delivery.deliver(outbox.pk)
    outbox.refresh_from_db()
    assert (outbox.status, outbox.attempts) == (Status.QUEUED, 0)
    assert smtp_server.messages == []
    assert outbox.can_undo()

    # Once the window has passed, it goes.
    OutboxMessage.objects.filter(pk=outbox.pk).update(not_before=timezone.now())
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_jobs()
    outbox.refresh_from_db()
    assert outbox.status == Status.SENT
    # Once to each (a tracked email is one copy per external recipient).
    sent_to = sorted(r for m in smtp_server.messages for r in m.rcpt_tos)
    assert sent_to == ["anna@customer.test", "bob@customer.test"]


def test_undo_returns_the_email_to_a_draft_and_nothing_is_sent(
    sales, alice, smtp_server, undo_window
):
    outbox = _send(sales, alice)
    draft = do_undo_send(outbox.pk, acting_user=alice)
    assert (draft.to, draft.cc, draft.subject) == (
        "Anna <anna@customer.test>",
        "bob@customer.test",
        "Offer",
    )
    assert "<strong>our</strong>" in draft.html
    assert (draft.mailbox, draft.author, draft.kind) == (sales, alice, OutboxMessage.Kind.NEW)
    assert not OutboxMessage.objects.exists()

    # Its job, due later, finds nothing to send.
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_jobs()
    assert smtp_server.messages == []


def test_too_late_to_undo_once_the_first_attempt_started(sales, alice, smtp_server):
    outbox = _send(sales, alice)  # no window in this test
    run_jobs()
    with pytest.raises(UndoError, match="too late"):
        do_undo_send(outbox.pk, acting_user=alice)
    assert OutboxMessage.objects.get().status == Status.SENT
    assert not Draft.objects.exists()


def test_only_the_author_may_undo(sales, alice, undo_window):
    from postroom.testing.factories import UserFactory

    outbox = _send(sales, alice)
    with pytest.raises(UndoError):
        do_undo_send(outbox.pk, acting_user=UserFactory())
    assert OutboxMessage.objects.get().can_undo()


def test_the_outbox_page_offers_undo_and_undo_opens_the_draft(
    client, sales, alice, smtp_server, undo_window
):
    client.force_login(alice)
    page = client.get(reverse("web:compose", args=[sales.pk]))
    form = {
        "to": "anna@customer.test",
        "subject": "Hello",
        "body_html": "<div>Hi Anna</div>",
        "token": page.context["form"].initial["token"],
    }
    response = client.post(reverse("web:compose", args=[sales.pk]), form)
    listing = client.get(response.url)
    outbox = OutboxMessage.objects.get()
    undo = reverse("web:undo_send", args=[outbox.pk])
    assert "Sending…" in listing.content.decode()
    assert f'action="{undo}"' in listing.content.decode()

    back = client.post(undo)
    draft = Draft.objects.get()
    assert back.url == f"{reverse('web:compose', args=[sales.pk])}?draft={draft.pk}"
    reopened = client.get(back.url)
    assert reopened.context["form"].initial["subject"] == "Hello"
    assert "Hi Anna" in reopened.context["html"]
    assert not OutboxMessage.objects.exists()
    run_jobs()
    assert smtp_server.messages == []
