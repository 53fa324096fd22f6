"""Switching sync off, deactivating an account and deleting a task: what happens to the
mail is a choice said before it happens, and it is recorded."""

import pytest

from postroom.mail.models import Attachment, AttachmentBlob, Message
from postroom.mailboxes.models import Folder
from postroom.retention import choices, sweep
from postroom.retention.models import RetentionRun
from postroom.retention.rules import RetentionError
from postroom.testing.factories import MailboxFactory, TaskFactory, UserFactory

from .helpers import arrive, bind_to_item, bind_to_task

pytestmark = pytest.mark.django_db


def _finish_queued():
    for run in sweep.unfinished_runs():
        sweep.execute(run.pk)


def test_stopping_sync_without_a_choice_changes_nothing():
    mailbox = MailboxFactory()
    with pytest.raises(RetentionError, match="choose whether"):
        choices.do_stop_sync(mailbox, "", acting_user=None)
    assert Folder.objects.get(mailbox=mailbox).is_synced


def test_stopping_sync_and_keeping_keeps_everything_and_says_so():
    mailbox = MailboxFactory()
    arrive(mailbox, "recent", days_ago=1)
    run = choices.do_stop_sync(mailbox, "keep", acting_user=None)
    assert not Folder.objects.get(mailbox=mailbox).is_synced
    assert run.state == RetentionRun.State.DONE and "keep its unlinked mail (1 email(s)" in run.note
    assert Message.objects.count() == 1


def test_stopping_sync_and_removing_takes_all_unlinked_mail_whatever_its_age():
    mailbox = MailboxFactory()
    arrive(mailbox, "recent", days_ago=1)
    bind_to_item(arrive(mailbox, "on a lead", days_ago=1))
    assert choices.unlinked_mail(mailbox).copies == 1

    run = choices.do_stop_sync(mailbox, "remove", acting_user=None)
    assert run.planned_copies == 1
    _finish_queued()

    assert list(Message.objects.values_list("subject", flat=True)) == ["on a lead"]
    run.refresh_from_db()
    assert run.copies_removed == 1 and run.trigger == RetentionRun.Trigger.SYNC_OFF


def test_deactivating_an_account_stops_its_personal_mailboxes_as_chosen():
    admin, person = UserFactory(is_superuser=True), UserFactory()
    mailbox = MailboxFactory(kind="personal", owner=person)
    arrive(mailbox, "private", days_ago=1)

    (run,) = choices.do_deactivate_user(person, "remove", acting_user=admin)
    _finish_queued()

    person.refresh_from_db()
    assert not person.is_active
    assert not Folder.objects.get(mailbox=mailbox).is_synced
    assert not Message.objects.exists()
    run.refresh_from_db()
    assert run.requested_by == admin and run.copies_removed == 1


def test_deleting_a_task_deletes_the_mail_bound_only_to_it_with_attachments():
    mailbox = MailboxFactory()
    owner = UserFactory()
    task = TaskFactory(responsible=owner)
    only_task = arrive(mailbox, "only the task", days_ago=1, attachment=b"%PDF the quote")
    bind_to_task(only_task, mailbox, task)
    also_lead = arrive(mailbox, "task and lead", days_ago=1)
    bind_to_task(also_lead, mailbox, TaskFactory())
    bind_to_item(also_lead)
    assert choices.mail_bound_only_to(task) == [only_task.pk]

    with pytest.raises(RetentionError, match="may not delete"):
        choices.do_delete_task(task, acting_user=UserFactory())
    run = choices.do_delete_task(task, acting_user=owner)
    _finish_queued()

    assert list(Message.objects.values_list("subject", flat=True)) == ["task and lead"]
    assert not Attachment.objects.exists() and not AttachmentBlob.objects.exists()
    run.refresh_from_db()
    assert run.messages_removed == 1 and "deleted with the 1 email(s)" in run.note
