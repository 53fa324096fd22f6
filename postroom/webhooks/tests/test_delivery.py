"""Events delivered to a real receiver (http.server on 127.0.0.1) that verifies each
signature with the README's example: once each, after an outage too."""

import time

import pytest
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from postroom.crm import editing
from postroom.mail.workflow import do_assign, do_set_status
from postroom.testing.factories import ConversationFactory, UserFactory
from postroom.webhooks import delivery
from postroom.webhooks.actions import do_create_subscription
from postroom.webhooks.models import Attempt, Delivery, Subscription

from .conftest import readme_verify, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

Status = Delivery.Status


def _subscribe(receiver, admin, events):
    subscription, secret = do_create_subscription(receiver.url, events, acting_user=admin)
    receiver.secret = secret
    return subscription


def _lead(admin, title: str):
    return editing.do_create_lead(acting_user=admin, title=title, email="anna@customer.test")


def _run_until_settled(rounds: int = 200) -> None:
    """Run the queue until no delivery waits (retries are due within a fraction of a
    second under the tests' back-off): bounded by rounds, not by a clock."""
    for _ in range(rounds):
        run_jobs()
        if not Delivery.objects.filter(status__in=[Status.PENDING, Status.SENDING]).exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"deliveries still waiting: {list(Delivery.objects.values())}")


def test_an_event_reaches_the_receiver_signed_with_the_subscriptions_secret(receiver, admin):
    receiver.start()
    subscription = _subscribe(receiver, admin, ["lead.created"])

    lead = _lead(admin, "Price request")
    run_jobs()

    [got] = receiver.received
    assert got.verified
    assert got.headers["Postroom-Event"] == "lead.created"
    body = got.json
    assert body["event"] == "lead.created"
    assert body["data"]["lead"]["id"] == lead.pk
    assert body["data"]["lead"]["title"] == "Price request"
    assert body["data"]["lead"]["email"] == "anna@customer.test"
    assert got.headers["Postroom-Event-Id"] == body["id"]
    sent = Delivery.objects.get(subscription=subscription)
    assert (sent.status, sent.attempts, sent.response_status) == (Status.DELIVERED, 1, 200)
    # The answer is kept truncated: the receiver said 7,000 bytes.
    assert len(sent.response_body) == 2048
    assert sent.attempt_log.get().response_status == 200


def _time_passes() -> None:
    """The retry that was due later is due now (the clock moved instead of waited for)."""
    now = timezone.now()
    Subscription.objects.update(paused_until=now)
    Delivery.objects.filter(next_attempt_at__gt=now).update(next_attempt_at=now)
    DBTaskResult.objects.filter(status=TaskResultStatus.READY).update(run_after=now)


def test_events_wait_while_the_receiver_is_down_and_each_arrives_once_after_it_is_back(
    receiver, admin, settings
):
    settings.WEBHOOKS = {**settings.WEBHOOKS, "RETRY_BASE": 60, "RETRY_CAP": 3600}
    subscription = _subscribe(
        receiver, admin, ["lead.created", "conversation.assigned", "conversation.status_changed"]
    )
    conversation = ConversationFactory()
    colleague = UserFactory(username="bea")

    _lead(admin, "First")
    _lead(admin, "Second")
    do_assign(conversation, colleague, acting_user=admin)
    run_jobs()  # the receiver is down: refused

    assert receiver.received == []
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.PENDING}
    # One delivery probes the dead receiver; the others wait for it instead of trying.
    assert Delivery.objects.filter(attempts__gt=0).count() == 1
    assert set(Attempt.objects.values_list("error", flat=True)) == {"connection refused"}
    subscription.refresh_from_db()
    assert subscription.failures_in_a_row >= 1

    # More events while it is down.
    do_set_status(conversation, "closed", acting_user=colleague)
    _lead(admin, "Third")
    run_jobs()
    assert receiver.received == []

    receiver.start()
    _time_passes()
    _run_until_settled()

    events = list(Delivery.objects.values_list("event_id", flat=True))
    assert len(events) == 5
    seen = [r.json["id"] for r in receiver.received]
    assert sorted(seen) == sorted(str(e) for e in events)  # every event, each once
    assert all(r.verified for r in receiver.received)
    assert sorted(receiver.events()) == sorted(
        ["lead.created"] * 3 + ["conversation.assigned", "conversation.status_changed"]
    )
    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    subscription.refresh_from_db()
    assert (subscription.failures_in_a_row, subscription.paused_until) == (0, None)


def test_a_receiver_that_answers_500_is_retried_and_its_answers_are_logged(receiver, admin):
    receiver.status = 500
    receiver.start()
    _subscribe(receiver, admin, ["lead.created"])
    _lead(admin, "Retried")
    run_jobs()
    assert receiver.received  # it answered, with 500

    receiver.status = 200
    _run_until_settled()

    sent = Delivery.objects.get()
    codes = list(sent.attempt_log.order_by("pk").values_list("response_status", flat=True))
    assert codes[0] == 500 and codes[-1] == 200
    assert sent.status == Status.DELIVERED
    assert sent.attempts == len(codes)
    assert len({r.json["id"] for r in receiver.received}) == 1  # the same event each time


def test_a_delivery_that_fails_for_its_whole_retry_window_is_marked_failed(receiver, admin):
    _subscribe(receiver, admin, ["lead.created"])
    _lead(admin, "Never")
    _lead(admin, "Also never")
    run_jobs()
    # A day later (the window is moved, not waited for):
    Delivery.objects.update(give_up_at=timezone.now())
    delivery.sweep()  # fails those that wait for the receiver
    _run_until_settled()  # and the probe fails at its next attempt

    assert set(Delivery.objects.values_list("status", flat=True)) == {Status.FAILED}
    assert all("gave up" in e for e in Delivery.objects.values_list("error", flat=True))
    assert receiver.received == []


def test_send_again_delivers_the_same_event_once_more(receiver, admin):
    from postroom.webhooks.actions import do_send_again

    receiver.start()
    _subscribe(receiver, admin, ["lead.created"])
    _lead(admin, "Twice")
    run_jobs()
    sent = Delivery.objects.get()

    do_send_again(sent, acting_user=admin)
    run_jobs()

    first, second = receiver.received
    assert first.body == second.body  # same event, same id: a receiver can drop it
    sent.refresh_from_db()
    assert (sent.status, sent.attempts) == (Status.DELIVERED, 2)


def test_an_address_refused_at_send_time_is_never_contacted(receiver, admin, settings):
    """The check runs again at each attempt: a name that now resolves to a refused
    address (DNS rebinding; here: loopback no longer allowed) gets no request."""
    receiver.start()
    _subscribe(receiver, admin, ["lead.created"])
    settings.WEBHOOKS = {**settings.WEBHOOKS, "ALLOWED_NETWORKS": []}
    _lead(admin, "Rebound")
    run_jobs()

    assert receiver.received == []
    attempt = Attempt.objects.get()
    assert attempt.error.startswith("refused: 127.0.0.1 resolves to 127.0.0.1")
    assert "loopback" in attempt.error


def test_a_replayed_delivery_is_rejected_by_the_readme_verification(receiver, admin, monkeypatch):
    receiver.start()
    _subscribe(receiver, admin, ["lead.created"])
    _lead(admin, "Captured")
    run_jobs()
    [got] = receiver.received
    header = got.headers["Postroom-Signature"]
    verify = readme_verify()
    assert verify(receiver.secret, header, got.body)

    # The same request sent again ten minutes later: its timestamp gives it away.
    later = time.time() + 600
    monkeypatch.setattr(time, "time", lambda: later)
    assert not verify(receiver.secret, header, got.body)
    monkeypatch.undo()

    # Tampered with, signed with another secret, or no signature at all: refused too.
    assert not verify(receiver.secret, header, got.body.replace(b"Captured", b"Changed!"))
    assert not verify("whsec_another", header, got.body)
    assert not verify(receiver.secret, "", got.body)
    assert not verify(receiver.secret, "t=abc,v1=00", got.body)
