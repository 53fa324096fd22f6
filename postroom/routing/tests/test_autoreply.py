"""The out-of-hours auto-reply end to end: mail handed to the SMTP ingress (or delivered
to Dovecot and synced), the real jobs run, and what the SMTP sink receives is checked;
every email that must never be answered is its own case."""

import smtplib
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from postroom import jobs
from postroom.mail.models import Conversation, Message
from postroom.outbound.models import OutboxMessage
from postroom.routing.autoreply import answers_now
from postroom.routing.autoreply_models import AutoReply, AutoReplyLog
from postroom.routing.models import BusinessHours
from postroom.sync.ingress import Ingress
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import make_email

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]

BODY = "Hello {contact_name}, thank you for writing to {mailbox_name}. We answer on Monday."


@pytest.fixture
def mailbox(smtp_server):
    box = MailboxFactory(
        address="sales@acme.test",
        name="Acme Sales",
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_security="none",
    )
    AutoReply.objects.create(mailbox=box, when=AutoReply.When.ALWAYS, body=BODY)
    return box


@pytest.fixture
def ingress():
    with Ingress(smtp_bind="127.0.0.1:0", max_message_size=1_000_000) as running:
        yield running


def send(ingress, raw: bytes, *, to="sales@acme.test", mail_from="anna@customer.test"):
    with smtplib.SMTP(*ingress.binds["smtp"], timeout=10) as client:
        client.sendmail(mail_from, [to], raw)
    jobs.drain_embedded_queue()


def test_it_answers_a_customer_once_with_the_auto_reply_headers(mailbox, ingress, smtp_server):
    raw = make_email(
        sender="Anna Client <anna@customer.test>",
        subject="Price request",
        message_id="<ask-1@customer.test>",
    )
    send(ingress, raw)
    (mail,) = smtp_server.wait_for(1)
    reply = mail.message
    assert mail.rcpt_tos == ["anna@customer.test"]
    assert mail.mail_from in ("", "<>")  # RFC 3834: a null envelope sender
    assert reply["From"].addresses[0].addr_spec == "sales@acme.test"
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["In-Reply-To"] == "<ask-1@customer.test>"
    assert "<ask-1@customer.test>" in reply["References"]
    assert reply["X-Loop"] == "sales@acme.test"
    assert reply["X-Postroom-Auto-Reply"] == "sales@acme.test"
    assert reply["Subject"] == "Re: Price request"
    assert "thank you for writing to Acme Sales" in reply.get_body(("plain",)).get_content()
    log = AutoReplyLog.objects.get()
    assert log.sent and log.sender == "anna@customer.test"
    assert OutboxMessage.objects.get().kind == OutboxMessage.Kind.AUTO_REPLY
    # A re-run of the pipeline's capture sends nothing twice.
    from postroom.pipeline import capture

    message = Message.objects.get(message_id="ask-1@customer.test")
    capture.call([message.pk], mailbox.pk)
    jobs.drain_embedded_queue()
    assert len(smtp_server.messages) == 1


def test_the_auto_reply_leaves_the_customer_waiting(mailbox, ingress, smtp_server):
    send(ingress, make_email(sender="anna@customer.test", subject="Chairs"))
    smtp_server.wait_for(1)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get(subject="Chairs")
    assert conversation.waiting_since is not None
    assert conversation.status == Conversation.Status.OPEN


def test_it_answers_a_sender_once_per_period(mailbox, ingress, smtp_server):
    send(ingress, make_email(sender="anna@customer.test", subject="One"))
    send(ingress, make_email(sender="anna@customer.test", subject="Two"))
    send(ingress, make_email(sender="ben@customer.test", subject="Three"))
    assert sorted(m.rcpt_tos[0] for m in smtp_server.wait_for(2)) == [
        "anna@customer.test",
        "ben@customer.test",
    ]
    skipped = AutoReplyLog.objects.get(sent=False)
    assert "in the last 4 day(s)" in skipped.reason
    assert skipped.conversation.subject == "Two"
    # After the period, the same sender is answered again.
    AutoReplyLog.objects.filter(sent=True).update(created_at=timezone.now() - timedelta(days=5))
    send(ingress, make_email(sender="anna@customer.test", subject="Four"))
    assert len(smtp_server.wait_for(3)) == 3


def test_a_broken_template_skips_the_auto_reply_and_never_blocks_mail(
    mailbox, ingress, smtp_server
):
    AutoReply.objects.filter(mailbox=mailbox).update(body="Dear {customer_nickname}")
    send(ingress, make_email(sender="anna@customer.test", subject="Chairs"))
    conversation = Conversation.objects.get(subject="Chairs")  # the mail is there
    log = AutoReplyLog.objects.get()
    assert not log.sent and "template is broken" in log.reason
    assert "customer_nickname" in log.reason and log.conversation == conversation
    assert smtp_server.messages == []


def _internal(settings):
    settings.POSTROOM = {**settings.POSTROOM, "INTERNAL_DOMAINS": ["acme-group.test"]}


NEVER = [
    ("auto_reply", {"headers": {"Auto-Submitted": "auto-replied"}}, "Auto-Submitted"),
    ("out_of_office_subject", {"subject": "Out of office: Price request"}, "automatic reply"),
    ("precedence_bulk", {"headers": {"Precedence": "bulk"}}, "Precedence: bulk"),
    ("precedence_junk", {"headers": {"Precedence": "junk"}}, "Precedence: junk"),
    ("precedence_list", {"headers": {"Precedence": "list"}}, "Precedence: list"),
    ("list_id", {"headers": {"List-Id": "<news.customer.test>"}}, "mailing-list"),
    ("bounce", {"headers": {"X-Failed-Recipients": "x@customer.test"}}, "a bounce"),
    ("x_loop_us", {"headers": {"X-Loop": "sales@acme.test"}}, "X-Loop names us"),
    ("x_loop_postroom", {"headers": {"X-Loop": "postroom"}}, "X-Loop names us"),
    ("postroom_header", {"headers": {"X-Postroom-Auto-Reply": "other@x.test"}}, "Postroom"),
    ("noreply", {"sender": "noreply@shop.test"}, "no-reply sender"),
    ("no_reply", {"sender": "no-reply@shop.test"}, "no-reply sender"),
    ("donotreply", {"sender": "do-not-reply@shop.test"}, "no-reply sender"),
    ("mailer_daemon", {"sender": "MAILER-DAEMON@mx.shop.test"}, "a bounce"),
    ("postmaster", {"sender": "postmaster@shop.test"}, "no-reply sender"),
    ("list_owner", {"sender": "owner-news@lists.test"}, "no-reply sender"),
    ("no_address", {"sender": "Anna Client"}, "no valid sender address"),
    ("no_domain", {"sender": "anna@localhost"}, "not a mail domain"),
    ("own_user", {"sender": "alice@acme.test"}, "one of ours"),
    ("internal_domain", {"sender": "carl@acme-group.test"}, "one of ours"),
    ("own_mailbox", {"sender": "support@acme.test"}, "one of ours"),
]


@pytest.mark.parametrize(("case", "fields", "reason"), NEVER, ids=[c[0] for c in NEVER])
def test_it_never_answers(case, fields, reason, mailbox, ingress, smtp_server, settings):
    UserFactory(username="alice", email="alice@acme.test")
    MailboxFactory(address="support@acme.test")
    _internal(settings)
    fields = {"sender": "anna@customer.test", "subject": "Price request", **fields}
    send(ingress, make_email(**fields))
    log = AutoReplyLog.objects.get()
    assert not log.sent
    assert reason in log.reason
    assert log.conversation is not None  # shown in the conversation's history
    assert smtp_server.messages == []
    assert not OutboxMessage.objects.exists()


def test_it_never_answers_mail_in_the_spam_folder(dovecot, mail_user, smtp_server):
    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox
    from postroom.sync.service import discover_folders, sync_mailbox

    box = do_add_mailbox(
        ConnectionSettings(
            address=mail_user.address, name="Sales", imap_host=dovecot.host,
            imap_port=dovecot.imap_port, imap_security="none", username=mail_user.username,
            password=mail_user.password, smtp_host=smtp_server.host, smtp_port=smtp_server.port,
            smtp_security="none",
        ),
        crm_rule="lead",
    )  # fmt: skip
    AutoReply.objects.create(mailbox=box, when=AutoReply.When.ALWAYS, body=BODY)
    discover_folders(box)
    box.folders.filter(name="Junk").update(is_synced=True)
    junk = make_email(sender="anna@customer.test", subject="You won")
    dovecot.append(mail_user.username, mail_user.password, junk, folder="Junk")
    sync_mailbox(box)
    jobs.drain_embedded_queue()
    log = AutoReplyLog.objects.get()
    assert not log.sent and log.reason == "in the spam folder"
    assert smtp_server.messages == []


def test_mail_through_dovecot_out_of_hours_is_answered(dovecot, mail_user, smtp_server):
    from postroom.mailboxes.actions import ConnectionSettings, do_add_mailbox
    from postroom.sync.service import sync_mailbox

    box = do_add_mailbox(
        ConnectionSettings(
            address=mail_user.address, name="Sales", imap_host=dovecot.host,
            imap_port=dovecot.imap_port, imap_security="none", username=mail_user.username,
            password=mail_user.password, smtp_host=smtp_server.host, smtp_port=smtp_server.port,
            smtp_security="none",
        ),
        crm_rule="lead",
    )  # fmt: skip
    # A calendar with no working time this week: always out of hours.
    never = BusinessHours.objects.create(name="Closed", time_zone="UTC", intervals=[])
    AutoReply.objects.create(
        mailbox=box, when=AutoReply.When.OUTSIDE_HOURS, calendar=never, body=BODY
    )
    dovecot.deliver(
        make_email(sender="anna@customer.test", to=mail_user.address), to=mail_user.address
    )
    sync_mailbox(box)
    jobs.drain_embedded_queue()
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["anna@customer.test"]
    assert mail.message["Auto-Submitted"] == "auto-replied"


def test_old_mail_fetched_late_is_left_alone(mailbox, smtp_server):
    """GIVEN a mailbox that answers always, WHEN a sync brings an email received two
    days ago (a new mailbox's first days), THEN nobody is answered and nothing recorded."""
    from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
    from postroom.mail.threads import thread_message
    from postroom.pipeline import capture

    two_days_ago = timezone.now() - timedelta(days=2)
    inbox = mailbox.folders.get(name="INBOX")
    raw = make_email(sender="anna@customer.test", subject="Old", date=two_days_ago)
    copy = store_copy(inbox, 7, FetchedMessage(1, raw, internal_date=two_days_ago))
    message = parse_stored(copy.message)
    thread_message(message, mailbox)
    capture.call([message.pk], mailbox.pk)
    jobs.drain_embedded_queue()
    assert not AutoReplyLog.objects.exists()
    assert smtp_server.messages == []


# ------------------------------------------------------------------- when


def _calendar(**fields):
    return BusinessHours(
        name="Office",
        time_zone="Europe/Berlin",
        intervals=[[d, 9 * 60, 18 * 60] for d in range(5)],
        **fields,
    )


@pytest.mark.parametrize(
    ("when", "at", "answers"),
    [
        ("outside_hours", datetime(2026, 12, 7, 10, 0, tzinfo=UTC), False),  # Mon 11:00
        ("outside_hours", datetime(2026, 12, 7, 19, 0, tzinfo=UTC), True),  # Mon 20:00
        ("outside_hours", datetime(2026, 12, 5, 10, 0, tzinfo=UTC), True),  # Saturday
        ("outside_hours", datetime(2026, 12, 25, 10, 0, tzinfo=UTC), True),  # a holiday
        ("holidays", datetime(2026, 12, 25, 10, 0, tzinfo=UTC), True),
        ("holidays", datetime(2026, 12, 5, 10, 0, tzinfo=UTC), False),
        ("always", datetime(2026, 12, 7, 10, 0, tzinfo=UTC), True),
        ("off", datetime(2026, 12, 7, 19, 0, tzinfo=UTC), False),
    ],
)
def test_it_answers_when_its_setting_says(when, at, answers):
    calendar = _calendar(holidays=["2026-12-25"])
    settings = AutoReply(when=when, calendar=calendar)
    assert answers_now(settings, at) is answers


def test_without_a_calendar_out_of_hours_is_off():
    assert not answers_now(AutoReply(when="outside_hours", calendar=None), timezone.now())
