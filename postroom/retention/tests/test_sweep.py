"""Retention removes old mail no CRM item or task holds, frees exactly what the dry run
said (bytes shared with kept mail stay), logs each removal with its rule, and a run
broken between batches goes on without removing anything twice."""

import pytest

from postroom.crm.models import Activity, TimelineEntry
from postroom.mail.models import (
    Attachment,
    AttachmentBlob,
    Conversation,
    Message,
    MessageCopy,
    RawMessage,
)
from postroom.retention import storage, sweep
from postroom.retention.models import RetentionRemoval, RetentionRun
from postroom.retention.planning import dry_run
from postroom.retention.rules import do_set_mailbox_days, do_set_organisation_days
from postroom.testing.factories import MailboxFactory

from .helpers import arrive, bind_to_item, bind_to_task

pytestmark = pytest.mark.django_db

CONTRACT = b"%PDF-1.4 the signed contract " * 50
LOGO = b"\x89PNG the company logo " * 40


def _run(**kwargs) -> RetentionRun:
    run = sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False)
    return sweep.execute(run.pk, **kwargs)


def _stored_bytes() -> tuple[int, int]:
    """Raw bytes and attachment bytes stored, each once."""
    report = storage.report()
    return report.raw_bytes, report.attachment_bytes


def test_old_unbound_mail_goes_and_bound_or_recent_mail_stays(raw_store):
    mailbox = MailboxFactory()
    old = arrive(mailbox, "old question", days_ago=60, attachment=CONTRACT)
    recent = arrive(mailbox, "recent question", days_ago=3)
    on_lead = arrive(mailbox, "old but on a lead", days_ago=60)
    on_task = arrive(mailbox, "old but with a task", days_ago=60)
    bind_to_item(on_lead)
    bind_to_task(on_task, mailbox)
    raw_before, attachments_before = _stored_bytes()

    plan = dry_run()
    (mailbox_plan,) = plan.mailboxes
    assert (mailbox_plan.copies, mailbox_plan.messages) == (1, 1)
    assert mailbox_plan.raw_bytes == old.raw_size
    assert mailbox_plan.attachment_bytes == len(CONTRACT)

    run = _run()

    assert set(Message.objects.values_list("subject", flat=True)) == {
        "recent question",
        "old but on a lead",
        "old but with a task",
    }
    assert not Attachment.objects.exists() and not AttachmentBlob.objects.exists()
    assert (run.copies_removed, run.messages_removed) == (1, 1)
    assert (run.raw_bytes_freed, run.blob_bytes_freed) == (plan.raw_bytes, plan.attachment_bytes)
    raw_after, attachments_after = _stored_bytes()
    assert raw_before - raw_after == plan.raw_bytes
    assert attachments_before - attachments_after == plan.attachment_bytes
    (removal,) = RetentionRemoval.objects.all()
    assert removal.message_identity == old.identity and removal.message_removed
    assert removal.rule == "30 days (organisation default)"
    assert Activity.objects.filter(message=on_lead).exists()
    assert recent.pk in MessageCopy.objects.values_list("message_id", flat=True)
    assert storage.check() == []


def test_bytes_shared_with_kept_mail_stay():
    mailbox = MailboxFactory()
    arrive(mailbox, "old with logo", days_ago=60, attachment=LOGO)
    arrive(mailbox, "new with logo", days_ago=1, attachment=LOGO)

    plan = dry_run()
    run = _run()

    assert plan.attachment_bytes == 0 and run.blob_bytes_freed == 0
    assert AttachmentBlob.objects.count() == 1
    assert run.messages_removed == 1
    assert storage.check() == []


def test_a_mailbox_that_keeps_holds_the_email_another_mailbox_lets_go():
    keeping, expiring = MailboxFactory(), MailboxFactory()
    do_set_mailbox_days(keeping, None)
    arrive(keeping, "seen by both", days_ago=60)
    message = arrive(expiring, "seen by both", days_ago=60)

    run = _run()

    assert run.copies_removed == 1 and run.messages_removed == 0
    assert list(MessageCopy.objects.values_list("mailbox", flat=True)) == [keeping.pk]
    assert Message.objects.filter(pk=message.pk).exists()
    assert run.bytes_freed == 0 == dry_run().bytes


def test_keep_and_longer_periods_are_honoured():
    mailbox = MailboxFactory()
    arrive(mailbox, "two months old", days_ago=60)
    do_set_organisation_days(90)
    assert _run().copies_removed == 0
    do_set_organisation_days(None)
    assert _run().copies_removed == 0
    do_set_mailbox_days(mailbox, 30)
    assert _run().copies_removed == 1


def test_mail_inside_the_initial_fetch_window_stays_however_short_the_retention():
    mailbox = MailboxFactory(initial_days=90)
    arrive(mailbox, "two months old", days_ago=60)
    arrive(mailbox, "half a year old", days_ago=180)
    do_set_organisation_days(30)

    (mailbox_plan,) = dry_run().mailboxes
    assert "held 90 days by the 90-day fetch window" in mailbox_plan.rule.label
    assert _run().copies_removed == 1
    assert Message.objects.get().subject == "two months old"


def test_an_empty_conversation_goes_with_its_last_email():
    mailbox = MailboxFactory()
    arrive(mailbox, "lonely", days_ago=60)
    assert Conversation.objects.count() == 1

    _run()

    assert not Conversation.objects.exists()


class Killed(RuntimeError):
    pass


def test_a_run_broken_between_batches_goes_on_and_removes_nothing_twice(raw_store):
    mailbox = MailboxFactory()
    for n in range(7):
        arrive(mailbox, f"old {n}", days_ago=40 + n, attachment=CONTRACT + bytes([n]))
    arrive(mailbox, "new", days_ago=1)
    plan = dry_run()
    run = sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False)

    def kill(run):
        raise Killed("the runner died here")

    with pytest.raises(Killed):
        sweep.execute(run.pk, after_batch=kill)
    run.refresh_from_db()
    assert run.copies_removed == 2, "one batch of two was committed"
    assert storage.check() == [], "a broken run leaves no orphan"

    sweep.execute(run.pk)

    run.refresh_from_db()
    assert run.state == RetentionRun.State.DONE
    assert (run.copies_removed, run.messages_removed) == (7, 7)
    assert RetentionRemoval.objects.count() == 7
    assert len(set(RetentionRemoval.objects.values_list("message_pk", flat=True))) == 7
    assert run.bytes_freed == plan.bytes
    assert list(Message.objects.values_list("subject", flat=True)) == ["new"]
    assert storage.check() == []


def test_a_finished_run_does_nothing_again():
    mailbox = MailboxFactory()
    arrive(mailbox, "old", days_ago=60)
    run = _run()
    again = sweep.execute(run.pk)
    assert again.copies_removed == 1 and RetentionRemoval.objects.count() == 1


def test_timeline_entries_are_untouched():
    mailbox = MailboxFactory()
    lead = bind_to_item(arrive(mailbox, "on the lead", days_ago=60))
    arrive(mailbox, "not on it", days_ago=60)
    _run()
    entries = TimelineEntry.objects.filter(object_id=lead.pk, kind=TimelineEntry.Kind.ACTIVITY)
    assert [e.activity.message.subject for e in entries] == ["on the lead"]
    assert RawMessage.objects.count() == 1
