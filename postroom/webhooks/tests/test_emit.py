"""Each event comes from the one domain function where it happens, its deliveries are
written in that function's transaction, and emitting costs nothing without a subscriber."""

import json

import pytest
from django.db import connection, transaction
from django_tasks_db.models import DBTaskResult

from postroom import webhooks
from postroom.crm import editing
from postroom.crm.capture import capture_message
from postroom.crm.models import Lead
from postroom.mail.workflow import do_assign, do_comment, do_set_status
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.outbound import delivery as outbound_delivery
from postroom.outbound.actions import Composition, do_send_email
from postroom.outbound.bounces import link_bounce
from postroom.testing.factories import (
    ConversationFactory,
    DealFactory,
    MailboxFactory,
    UserFactory,
)
from postroom.testing.mail import ingested, make_email
from postroom.webhooks.actions import do_create_subscription, do_set_active
from postroom.webhooks.emitting import forget_subscribers, subscribers
from postroom.webhooks.events import EVENTS
from postroom.webhooks.models import Delivery

pytestmark = pytest.mark.django_db

URL = "http://127.0.0.1:9/hooks"  # never contacted here: no job runs


@pytest.fixture
def subscribed(admin):
    subscription, _ = do_create_subscription(URL, list(EVENTS), acting_user=admin)
    return subscription


def _sent(event: str) -> list[dict]:
    return [json.loads(d.body) for d in Delivery.objects.filter(event=event).order_by("pk")]


def test_without_a_subscription_emitting_reads_nothing(admin, django_assert_num_queries):
    lead = editing.do_create_lead(acting_user=admin, title="Quiet")
    subscribers("lead.created")  # the table is read at most every few seconds
    with django_assert_num_queries(0):
        for _ in range(1000):
            assert webhooks.emit("lead.created", lead) == 0
            assert webhooks.emit("message.received", lead) == 0


def test_a_new_subscription_counts_at_once_in_this_process(admin):
    assert subscribers("lead.created") == ()
    subscription, _ = do_create_subscription(URL, ["lead.created"], acting_user=admin)
    assert subscribers("lead.created") == (subscription.pk,)
    do_set_active(subscription, False, acting_user=admin)
    assert subscribers("lead.created") == ()
    editing.do_create_lead(acting_user=admin, title="Off")
    assert not Delivery.objects.exists()


def test_the_deliveries_roll_back_with_the_event(subscribed, admin):
    with pytest.raises(RuntimeError), transaction.atomic():
        editing.do_create_lead(acting_user=admin, title="Rolled back")
        assert Delivery.objects.count() == 1
        raise RuntimeError("the caller's transaction fails")
    assert not Lead.objects.exists()
    assert not Delivery.objects.exists()
    assert not DBTaskResult.objects.exists()  # nor is its job queued

    lead = editing.do_create_lead(acting_user=admin, title="Kept")
    [body] = _sent("lead.created")
    assert body["data"]["lead"]["id"] == lead.pk
    job = DBTaskResult.objects.get()
    assert job.task_path == "postroom.webhooks.jobs.deliver_webhook"
    assert job.args_kwargs["args"] == [Delivery.objects.get().pk]


def test_only_the_events_a_subscription_chose_are_delivered_to_it(admin):
    leads, _ = do_create_subscription(URL, ["lead.created"], acting_user=admin)
    statuses, _ = do_create_subscription(
        URL + "2", ["conversation.status_changed"], acting_user=admin
    )
    editing.do_create_lead(acting_user=admin, title="One")
    do_set_status(ConversationFactory(), "closed", acting_user=admin)
    assert list(Delivery.objects.filter(subscription=leads).values_list("event", flat=True)) == [
        "lead.created"
    ]
    assert list(Delivery.objects.filter(subscription=statuses).values_list("event", flat=True)) == [
        "conversation.status_changed"
    ]


def test_an_email_ingested_is_message_received_once_and_its_lead_is_lead_created(subscribed):
    mailbox = MailboxFactory(crm_rule="lead")
    raw = make_email(subject="Price request", message_id="<ask-1@customer.test>")
    message = ingested(mailbox, raw)
    capture_message(message, mailbox)

    [received] = _sent("message.received")
    assert received["data"]["message"]["message_id"] == "ask-1@customer.test"
    assert received["data"]["message"]["from"] == {
        "name": "Anna Client",
        "address": "anna@customer.test",
    }
    assert received["data"]["mailbox"]["address"] == mailbox.address
    assert received["data"]["conversation"]["id"]
    [created] = _sent("lead.created")
    assert created["data"]["lead"]["email"] == "anna@customer.test"
    assert created["data"]["lead"]["source_mailbox"]["id"] == mailbox.pk

    # The same email again (a second mailbox, a job run twice): no second event.
    ingested(MailboxFactory(), raw)
    capture_message(message, mailbox)
    assert len(_sent("message.received")) == 1
    assert len(_sent("lead.created")) == 1


def test_assignment_and_status_changes_say_who_and_what_before(subscribed, admin):
    conversation = ConversationFactory()
    bea = UserFactory(username="bea", first_name="Bea")
    do_assign(conversation, bea, acting_user=admin, reason="she knows them")
    do_set_status(conversation, "pending", acting_user=bea)
    do_set_status(conversation, "pending", acting_user=bea)  # no change: no event

    [assigned] = _sent("conversation.assigned")
    assert assigned["data"]["responsible"]["username"] == "bea"
    assert assigned["data"]["previous_responsible"] is None
    assert assigned["data"]["by"]["username"] == admin.username
    assert assigned["data"]["reason"] == "she knows them"
    [changed] = _sent("conversation.status_changed")
    assert (changed["data"]["status"], changed["data"]["previous_status"]) == ("pending", "open")
    assert changed["data"]["conversation"]["id"] == conversation.pk


def test_a_comment_is_conversation_commented_with_its_mentions(subscribed, admin):
    conversation = ConversationFactory()
    bea = UserFactory(username="bea", first_name="Bea")
    do_grant_mailbox(conversation.mailbox, bea)
    comment = do_comment(conversation, "@bea can you call them?", author=admin)

    [commented] = _sent("conversation.commented")
    assert commented["data"]["conversation"]["id"] == conversation.pk
    assert commented["data"]["comment"]["id"] == comment.pk
    assert commented["data"]["comment"]["body"] == "@bea can you call them?"
    assert [u["username"] for u in commented["data"]["comment"]["mentions"]] == ["bea"]
    assert commented["data"]["by"]["username"] == admin.username


def test_a_deal_moved_to_another_stage_is_deal_stage_changed(subscribed, admin):
    deal = DealFactory(title="40 chairs")
    stages = list(deal.pipeline.stages.all())
    editing.do_move_stage(deal, stages[1], acting_user=admin)

    [moved] = _sent("deal.stage_changed")
    assert moved["data"]["deal"]["title"] == "40 chairs"
    assert moved["data"]["stage"]["name"] == stages[1].name
    assert moved["data"]["previous_stage"]["name"] == stages[0].name


@pytest.mark.django_db(transaction=True)
def test_an_email_sent_and_its_bounce_are_email_sent_and_email_bounced(
    subscribed, admin, smtp_server, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    mailbox = MailboxFactory(
        smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none"
    )
    outbox = do_send_email(
        mailbox,
        Composition(to=["anna@customer.test"], subject="Offer", body="40 chairs: 4,000 €"),
        acting_user=admin,
        track=False,
    )
    outbound_delivery.deliver(outbox.pk)
    smtp_server.wait_for(1)

    [sent] = _sent("email.sent")
    assert sent["data"]["email"]["message_id"] == outbox.message_id
    assert sent["data"]["email"]["recipients"] == ["anna@customer.test"]

    from postroom.outbound.tests.test_bounces import dsn

    outbox.refresh_from_db()
    ingested(mailbox, bytes(outbox.raw))  # the sent email, as the Sent folder holds it
    bounce = ingested(mailbox, dsn(outbox.message_id, to=mailbox.address))
    assert link_bounce(bounce) == 1

    [bounced] = _sent("email.bounced")
    assert bounced["data"]["email"]["id"] == outbox.pk
    assert "550 5.1.1" in bounced["data"]["reason"]


def test_a_failing_payload_never_breaks_the_event(subscribed, admin, monkeypatch, caplog):
    from postroom.webhooks import events

    def broken(*args, **kwargs):
        raise KeyError("a bug in a payload")

    monkeypatch.setitem(events.EVENTS, "lead.created", events.Event("lead.created", "", broken))
    lead = editing.do_create_lead(acting_user=admin, title="Still made")
    assert Lead.objects.filter(pk=lead.pk).exists()
    assert not Delivery.objects.exists()
    assert "webhook event lead.created could not be queued" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_real_open_and_click_are_email_opened_and_email_clicked(admin, smtp_server, settings):
    from postroom.tracking import events as tracking
    from postroom.tracking.tests.conftest import GMAIL_PROXY, THUNDERBIRD, send_offer
    from postroom.tracking.tokens import click_token, open_token

    settings.POSTROOM = {**settings.POSTROOM, "UNDO_SEND_SECONDS": 0}
    do_create_subscription(URL, ["email.opened", "email.clicked"], acting_user=admin)
    sales = MailboxFactory(
        imap_host="", smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none"
    )
    outbox = send_offer(sales, admin)

    # An image proxy fetching at delivery is a prefetch: no event.
    tracking.record("open", open_token(outbox.pk, 0), ip="66.249.1.1", user_agent=GMAIL_PROXY)
    assert not Delivery.objects.exists()

    tracking.record("open", open_token(outbox.pk, 0), ip="198.51.100.7", user_agent=THUNDERBIRD)
    [opened] = _sent("email.opened")
    assert opened["data"]["recipient"] == "anna@customer.test"
    assert opened["data"]["email"]["id"] == outbox.pk
    assert opened["data"]["client"] == "thunderbird"

    tracking.record(
        "click", click_token(outbox.pk, 0, 0), ip="198.51.100.7", user_agent=THUNDERBIRD
    )
    [clicked] = _sent("email.clicked")
    assert clicked["data"]["url"] == "https://shop.test/offer?id=7&lang=en"
    assert len(_sent("email.opened")) == 1  # the same open, within the repeat window


@pytest.mark.django_db(transaction=True)
def test_reading_the_subscriptions_outside_a_transaction_begins_none():
    """A transaction would take SQLite's write lock (BEGIN IMMEDIATE) every few seconds
    in each web worker, and hold up the tracking endpoints' writes."""
    forget_subscribers()
    in_a_transaction = []

    def note(execute, sql, params, many, context):
        in_a_transaction.append(context["connection"].in_atomic_block)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note):
        subscribers("lead.created")
    assert in_a_transaction == [False]
