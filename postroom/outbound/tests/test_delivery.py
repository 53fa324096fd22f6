"""Delivering the Outbox through a real SMTP server (aiosmtpd) and a real Dovecot: sent
once, retried, failed with the server's words, held by the quota, saved to Sent."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom.accounts.models import Notification
from postroom.crm.models import Activity, Lead
from postroom.mail.models import ConversationMessage, Message, MessageCopy
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.limits import Limits, do_set_limits
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound import delivery
from postroom.outbound.actions import Composition, do_send_email, draft_for
from postroom.outbound.models import MonthlyUsage, OutboundSettings, OutboxMessage
from postroom.sync.service import sync_mailbox
from postroom.testing.dovecot import free_port
from postroom.testing.factories import MailboxFactory
from postroom.testing.smtp import CapturingSMTPServer

from .conftest import SilentAfterData, receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboxMessage.Status
Kind = OutboxMessage.Kind


def _email(mailbox, user, n: int = 0, **fields) -> OutboxMessage:
    composition = Composition(
        to=fields.pop("to", [f"client{n}@customer.test"]),
        subject=fields.pop("subject", f"Offer {n}"),
        body=fields.pop("body", "Here is our offer."),
    )
    return do_send_email(mailbox, composition, acting_user=user, **fields)


def _reply(mailbox, user, parent) -> OutboxMessage:
    draft = draft_for(Kind.REPLY, mailbox, user, parent)
    return do_send_email(
        mailbox,
        Composition(
            to=draft.to, subject=draft.subject, body="40 chairs cost 4,000 €." + draft.body
        ),
        acting_user=user,
        kind=Kind.REPLY,
        parent=parent,
        conversation=ConversationMessage.objects.get(message=parent).conversation,
    )


def _refresh(outbox: OutboxMessage) -> OutboxMessage:
    outbox.refresh_from_db()
    return outbox


def test_a_reply_is_sent_once_threaded_saved_to_sent_and_on_the_timeline(
    sales, alice, smtp_server, imap_client
):
    parent = receive(sales, message_id="<ask@customer.test>", subject="Quote for 40 chairs")
    lead = Lead.objects.get(email="anna@customer.test")
    outbox = _reply(sales, alice, parent)

    run_jobs()

    [mail] = smtp_server.wait_for(1)
    sent = mail.message
    assert sent["From"] == f"Alice Smith at Sales <{sales.address}>"
    assert sent["To"] == "Anna Client <anna@customer.test>"
    assert sent["Subject"] == "Re: Quote for 40 chairs"
    assert sent["In-Reply-To"] == "<ask@customer.test>"
    assert sent["References"] == "<ask@customer.test>"
    assert sent["Message-ID"] == f"<{outbox.message_id}>"
    assert (mail.mail_from, mail.rcpt_tos) == (sales.address, ["anna@customer.test"])

    outbox = _refresh(outbox)
    assert (outbox.status, outbox.attempts, outbox.saved_to_sent) == (Status.SENT, 1, True)
    [uid] = imap_client.find("Sent", outbox.message_id)
    # In Postroom at once: the copy in Sent, in the parent's conversation, on the lead.
    copy = MessageCopy.objects.get(message=outbox.stored_message, folder__name="Sent")
    assert copy.uid == uid and copy.is_seen
    conversation = ConversationMessage.objects.get(message=parent).conversation
    assert (
        ConversationMessage.objects.get(message=outbox.stored_message).conversation == conversation
    )
    activity = Activity.objects.get(message=outbox.stored_message)
    assert activity.direction == "out"
    assert activity.entries.get().object_id == lead.pk

    # The next sync of Sent finds the same email: nothing doubles.
    sync_mailbox(sales)
    run_jobs()
    assert Message.objects.filter(message_id=outbox.message_id).count() == 1
    assert ConversationMessage.objects.filter(conversation=conversation).count() == 2
    assert Activity.objects.count() == 2  # the question in, the reply out
    assert len(smtp_server.messages) == 1


def test_a_temporary_failure_is_retried_and_delivered_once(sales, alice, smtp_server, fast_retries):
    smtp_server.fail_next(451, "4.3.0 greylisted, try again", count=2, at="DATA")
    outbox = _email(sales, alice)
    run_jobs()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.attempts, outbox.last_error) == (Status.SENT, 3, "")
    assert [m.message["Message-ID"] for m in smtp_server.messages] == [f"<{outbox.message_id}>"]


def test_a_retry_waits_with_back_off(sales, alice, smtp_server):
    smtp_server.fail_next(451, "4.3.0 greylisted", at="RCPT")
    outbox = _email(sales, alice)
    run_jobs()
    after = timezone.now()
    outbox = _refresh(outbox)
    assert outbox.status == Status.QUEUED
    assert outbox.last_error.endswith("451 4.3.0 greylisted")
    # 60 s ±10 % from the failure, which came between the attempt's start and now: true
    # however long the machine took to get there.
    assert outbox.last_attempt_at + timedelta(seconds=54) <= outbox.next_attempt_at
    assert outbox.next_attempt_at <= after + timedelta(seconds=66)
    job = DBTaskResult.objects.filter(status="READY").get()
    assert job.run_after == outbox.next_attempt_at
    assert smtp_server.messages == []


def test_a_permanent_failure_fails_with_the_servers_words(sales, alice, smtp_server):
    smtp_server.fail_next(550, "5.1.1 <client0@customer.test>: no such user", at="RCPT")
    outbox = _email(sales, alice)
    run_jobs()
    outbox = _refresh(outbox)
    assert outbox.status == Status.FAILED
    assert "550 5.1.1 <client0@customer.test>: no such user" in outbox.last_error
    assert outbox.attempts == 1
    notice = Notification.objects.get(user=alice)
    assert "was not sent" in notice.text and "no such user" in notice.text


def test_a_refused_login_fails_with_a_clear_message(sales, alice, mail_user):
    with CapturingSMTPServer(auth_credentials={mail_user.username: "not-the-password"}) as server:
        sales.smtp_port = server.port
        sales.save()
        outbox = _email(sales, alice)
        run_jobs()
        outbox = _refresh(outbox)
        assert outbox.status == Status.FAILED
        assert f"refused the login of {mail_user.username}: 535" in outbox.last_error
        assert "check the mailbox's password" in outbox.last_error
        assert server.messages == []


def test_it_logs_in_with_the_mailbox_credentials(sales, alice, mail_user):
    with CapturingSMTPServer(auth_credentials={mail_user.username: mail_user.password}) as server:
        sales.smtp_port = server.port
        sales.save()
        _email(sales, alice)
        run_jobs()
        assert server.wait_for(1)[0].login == mail_user.username


def test_an_unreachable_server_is_retried_then_given_up(sales, alice, settings, fast_retries):
    settings.POSTROOM = {**settings.POSTROOM, "SEND_MAX_ATTEMPTS": 3}
    sales.smtp_port = free_port()  # nothing listens there
    sales.save()
    outbox = _email(sales, alice)
    run_jobs()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.attempts) == (Status.FAILED, 3)
    assert outbox.last_error.startswith("gave up after 3 attempts: cannot connect to")


def test_over_the_monthly_quota_an_email_waits_and_is_not_lost(sales, alice, smtp_server, settings):
    # Both queued before the administrator lowered the quota: the second waits.
    first, second = _email(sales, alice, 1), _email(sales, alice, 2)
    do_set_limits(Limits(monthly_outgoing=1), acting_user=None)
    run_jobs()
    first, second = _refresh(first), _refresh(second)
    assert first.status == Status.SENT
    assert second.status == Status.QUEUED and second.attempts == 0
    month = timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = timezone.localtime(second.next_attempt_at)
    assert (next_month.day, next_month.hour) == (1, 0) and next_month > month
    assert second.last_error == (
        f"monthly quota of 1 reached; waits until {next_month:%Y-%m-%d} 00:00 "
        "(your administrator can raise it on the Limits page)"
    )
    assert MonthlyUsage.objects.get().sent == 1
    assert len(smtp_server.messages) == 1

    # Next month (or a bigger quota): the waiting job goes out by itself.
    do_set_limits(Limits(monthly_outgoing=2), acting_user=None)
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    OutboxMessage.objects.filter(pk=second.pk).update(next_attempt_at=timezone.now())
    run_jobs()
    assert _refresh(second).status == Status.SENT
    assert len(smtp_server.messages) == 2


def test_over_the_mailbox_rate_an_email_waits_a_moment(sales, alice, smtp_server, settings):
    settings.POSTROOM = {**settings.POSTROOM, "MAILBOX_RATE_PER_MINUTE": 2}
    emails = [_email(sales, alice, n) for n in range(3)]
    run_jobs()
    statuses = [_refresh(e).status for e in emails]
    assert statuses == [Status.SENT, Status.SENT, Status.QUEUED]
    waiting = emails[2]
    assert f"{sales.address} sends at most 2 emails a minute" in waiting.last_error
    assert timezone.now() < waiting.next_attempt_at <= timezone.now() + timedelta(minutes=1)


def _crashed_mid_send(outbox: OutboxMessage) -> None:
    """As a worker killed between its claim and its commit of `sent` leaves the row."""
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        status=Status.SENDING,
        attempts=1,
        last_attempt_at=timezone.now() - delivery.stale_after() - timedelta(seconds=1),
    )


def test_after_a_crash_an_email_found_in_sent_is_not_sent_again(
    sales, alice, smtp_server, dovecot, mail_user, imap_client
):
    outbox = _email(sales, alice)
    _crashed_mid_send(outbox)
    # The server took it before the crash and filed it in Sent (as Gmail does).
    dovecot.append(mail_user.username, mail_user.password, bytes(outbox.raw), folder="Sent")
    run_jobs()
    outbox = _refresh(outbox)
    assert outbox.status == Status.SENT
    assert "found in the Sent folder" in outbox.last_error
    assert smtp_server.messages == []
    assert len(imap_client.find("Sent", outbox.message_id)) == 1, "not appended a second time"
    assert outbox.saved_to_sent and outbox.stored_message is not None


def test_after_a_crash_an_email_missing_from_sent_is_sent(sales, alice, smtp_server, imap_client):
    outbox = _email(sales, alice)
    _crashed_mid_send(outbox)
    run_jobs()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.attempts) == (Status.SENT, 2)
    assert len(smtp_server.wait_for(1)) == 1
    assert len(imap_client.find("Sent", outbox.message_id)) == 1


def test_an_attempt_in_progress_is_left_to_its_worker(sales, alice, smtp_server):
    outbox = _email(sales, alice)
    OutboxMessage.objects.filter(pk=outbox.pk).update(
        status=Status.SENDING, attempts=1, last_attempt_at=timezone.now()
    )
    run_jobs()
    assert _refresh(outbox).status == Status.SENDING
    assert smtp_server.messages == []
    # Looked at again once that attempt would be stale, in case its worker died.
    later = DBTaskResult.objects.filter(status="READY").get()
    assert later.run_after > timezone.now() + delivery.stale_after() - timedelta(minutes=1)


def test_lost_jobs_are_given_back(sales, alice, smtp_server):
    outbox = _email(sales, alice)
    _crashed_mid_send(outbox)
    DBTaskResult.objects.all().delete()  # the dead worker's job is gone with it
    assert delivery.requeue_stalled() == 1
    run_jobs()
    assert _refresh(outbox).status == Status.SENT
    assert len(smtp_server.messages) == 1


def test_without_save_to_sent_the_email_still_shows_at_once(sales, alice, smtp_server, imap_client):
    OutboundSettings.objects.create(mailbox=sales, save_to_sent=False)
    parent = receive(sales, message_id="<ask2@customer.test>")
    outbox = _reply(sales, alice, parent)
    run_jobs()
    outbox = _refresh(outbox)
    assert outbox.status == Status.SENT and not outbox.saved_to_sent
    assert imap_client.find("Sent", outbox.message_id) == []
    link = ConversationMessage.objects.get(message=outbox.stored_message)
    assert link.conversation == ConversationMessage.objects.get(message=parent).conversation


def test_no_email_is_sent_twice(sales, alice, smtp_server, settings, fast_retries):
    """200 emails through retries on every SMTP stage: each arrives exactly once."""
    # Many attempts allowed: with no back-off one email may meet several failures in a row.
    settings.POSTROOM = {
        **settings.POSTROOM,
        "MAILBOX_RATE_PER_MINUTE": 0,
        "SEND_MAX_ATTEMPTS": 100,
    }
    # Saving to Sent is covered above; here it would only add an IMAP session per email.
    OutboundSettings.objects.create(mailbox=sales, save_to_sent=False)
    smtp_server.fail_next(451, "4.3.0 try later", count=25, at="DATA")
    smtp_server.fail_next(421, "4.7.0 too busy", count=10, at="MAIL")
    smtp_server.fail_next(452, "4.2.2 mailbox full", count=10, at="RCPT")
    emails = [_email(sales, alice, n) for n in range(200)]
    run_jobs()  # a hang ends at pytest's timeout; bench/outbox_throughput.py measures speed

    delivered = Counter(m.message["Message-ID"] for m in smtp_server.messages)
    assert set(delivered) == {f"<{e.message_id}>" for e in emails}
    assert max(delivered.values()) == 1
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert OutboxMessage.objects.filter(stored_message__isnull=True).count() == 0
    assert sum(OutboxMessage.objects.values_list("attempts", flat=True)) == 245


def test_a_mailbox_without_imap_sends_and_shows_the_email(smtp_server, alice):
    info = MailboxFactory(
        imap_host="", smtp_host=smtp_server.host, smtp_port=smtp_server.port, smtp_security="none"
    )
    do_grant_mailbox(info, alice, MailboxGrant.Level.REPLY)
    outbox = _email(info, alice)
    run_jobs()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.saved_to_sent, outbox.save_error) == (Status.SENT, False, "")
    assert outbox.stored_message.copies.get().folder.name == delivery.OUTBOX_FOLDER
    assert len(smtp_server.messages) == 1


def test_after_a_crash_it_is_not_resent_while_sent_cannot_be_checked(sales, alice, smtp_server):
    outbox = _email(sales, alice)
    _crashed_mid_send(outbox)
    sales.imap_port = free_port()  # the IMAP server is down
    sales.save()
    run_jobs()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.delivery_unknown) == (Status.QUEUED, True)
    assert outbox.last_error.startswith("could not look for it in the Sent folder")
    assert smtp_server.messages == []


def test_a_connection_lost_after_the_data_is_checked_in_sent_before_a_retry(
    sales, alice, smtp_server, fast_retries, dovecot, mail_user
):
    silent = SilentAfterData()
    try:
        real_port, sales.smtp_port = sales.smtp_port, silent.port
        sales.save()
        outbox = _email(sales, alice)
        delivery.deliver(outbox.pk)
    finally:
        silent.close()
    outbox = _refresh(outbox)
    assert (outbox.status, outbox.delivery_unknown) == (Status.QUEUED, True)
    # The server had taken it and filed it in Sent: the retry finds it there.
    dovecot.append(mail_user.username, mail_user.password, bytes(outbox.raw), folder="Sent")
    sales.smtp_port = real_port
    sales.save()
    run_jobs()
    assert _refresh(outbox).status == Status.SENT
    assert smtp_server.messages == []
