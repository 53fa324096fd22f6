"""Past a few thousand copies the retention page shows the dry run a job saved, with
when it was computed: opening the page asks for a new one when it is old, changing a
rule or finishing a run asks at once, several pages opened together queue one job; a
run started from the page computes its dry run in its own job."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from postroom.mail.models import Message, MessageCopy
from postroom.retention import saved_plan, sweep
from postroom.retention.models import OrganisationRetention, RetentionRun
from postroom.retention.planning import dry_run
from postroom.retention.rules import expired_copies, rule_for
from postroom.testing.factories import MailboxFactory

from .helpers import arrive

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4 a quote " * 60


@pytest.fixture
def at_scale(settings):
    """Every database counts as large: the page never computes the dry run itself."""
    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PLAN_INLINE": 0}


def _plan_jobs() -> int:
    return DBTaskResult.objects.filter(task_path__endswith="compute_plan").count()


def _figures(plan) -> list[tuple]:
    return [
        (p.mailbox.pk, p.copies, p.messages, p.raw_bytes, p.attachment_bytes)
        for p in plan.mailboxes
    ]


def test_a_small_database_gets_a_fresh_plan_on_the_page_and_no_job(
    django_capture_on_commit_callbacks,
):
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    with django_capture_on_commit_callbacks(execute=True):
        shown = saved_plan.for_page()
        saved_plan.outdated()  # a rule changed
    assert not shown.saved and not shown.computing
    assert shown.plan.copies == 1
    assert _plan_jobs() == 0


def test_at_scale_the_page_asks_a_job_and_says_it_is_computing(
    at_scale, django_capture_on_commit_callbacks
):
    arrive(MailboxFactory(), "old one", days_ago=60)
    with django_capture_on_commit_callbacks(execute=True):
        shown = saved_plan.for_page()
    assert shown.saved and shown.computing and shown.computed_at is None
    assert _plan_jobs() == 1
    with django_capture_on_commit_callbacks(execute=True):
        again = saved_plan.for_page()
    assert again.computing and _plan_jobs() == 1, "one job, however many pages ask"


def test_the_saved_plan_is_the_dry_run_and_says_when(at_scale):
    mailbox, other = MailboxFactory(), MailboxFactory()
    arrive(mailbox, "old with a quote", days_ago=60, attachment=PDF)
    arrive(other, "old too", days_ago=45)
    arrive(other, "recent", days_ago=1)
    saved_plan.ask()
    before = timezone.now()
    saved_plan.compute_and_save()

    shown = saved_plan.for_page()
    assert shown.saved and not shown.computing and shown.computed_at >= before
    assert _figures(shown.plan) == _figures(dry_run())
    assert shown.plan.copies == 2 and shown.plan.attachment_bytes > 0


def test_an_old_plan_is_shown_while_a_new_one_is_computed(at_scale):
    arrive(MailboxFactory(), "old one", days_ago=60)
    saved_plan.compute_and_save()
    long_ago = timezone.now() - saved_plan.STALE_AFTER - timedelta(minutes=1)
    OrganisationRetention.objects.filter(pk=1).update(plan_computed_at=long_ago)

    shown = saved_plan.for_page()
    assert shown.computing and shown.computed_at == long_ago
    assert shown.plan.copies == 1, "the old figures stay until the new ones are saved"


def test_a_changed_rule_asks_again_even_while_a_job_computes(at_scale):
    arrive(MailboxFactory(), "old one", days_ago=60)
    saved_plan.compute_and_save()
    assert not saved_plan.ask(), "just computed"
    assert saved_plan.ask(force=True)
    assert saved_plan.ask(force=True), "a plan under way follows the old rules"
    assert saved_plan.for_page().computing


def test_a_job_that_never_saved_is_asked_again_later(at_scale):
    assert saved_plan.ask()
    assert not saved_plan.ask()
    long_ago = timezone.now() - saved_plan.STALE_AFTER - timedelta(minutes=1)
    OrganisationRetention.objects.filter(pk=1).update(plan_wanted_at=long_ago)
    assert saved_plan.ask(), "its runner died"


def test_a_mailbox_added_since_the_plan_is_not_counted_yet(at_scale):
    arrive(MailboxFactory(), "old one", days_ago=60)
    saved_plan.compute_and_save()
    added = MailboxFactory()
    rows = {p.mailbox.pk: p for p in saved_plan.for_page().plan.mailboxes}
    assert rows[added.pk].counted is False
    assert all(p.counted for pk, p in rows.items() if pk != added.pk)


def test_a_finished_run_asks_for_a_new_plan(at_scale):
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    arrive(mailbox, "recent", days_ago=1)
    saved_plan.compute_and_save()
    run = sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False)
    sweep.execute(run.pk)
    assert saved_plan.for_page().computing


def test_a_run_queued_without_its_dry_run_computes_it_before_removing():
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    arrive(mailbox, "old two", days_ago=50)
    run = sweep.request_run(RetentionRun.Trigger.MANUAL, enqueue=False, plan_now=False)
    assert run.planned_copies is None
    run = sweep.execute(run.pk)
    assert run.planned_copies == 2 == run.copies_removed
    assert run.planned_bytes == run.bytes_freed


def test_mail_without_an_internal_date_counts_from_when_it_entered_postroom():
    mailbox = MailboxFactory()
    message = arrive(mailbox, "written here", days_ago=60)
    MessageCopy.objects.filter(message=message).update(internal_date=None)
    rule = rule_for(mailbox)
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now())
    assert not expired_copies(rule).exists()
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - timedelta(days=60))
    assert list(expired_copies(rule).values_list("message_id", flat=True)) == [message.pk]
