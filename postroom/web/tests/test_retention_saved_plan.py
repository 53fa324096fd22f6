"""At scale the retention page shows the dry run a job saved, says when it was computed
and that a new one is being computed, and "Run retention now" queues the run without
computing its dry run in the request."""

import pytest
from django.urls import reverse

from postroom.retention import saved_plan, sweep
from postroom.retention.models import RetentionRun
from postroom.retention.tests.helpers import arrive
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def at_scale(settings):
    settings.POSTROOM = {**settings.POSTROOM, "RETENTION_PLAN_INLINE": 0}


def _row(page: str, address: str) -> str:
    start = page.index(f'data-mailbox="{address}"')
    return page[start : page.index("</tr>", start)]


def test_the_page_shows_computing_then_the_saved_plan_with_its_time(at_scale):
    mailbox = MailboxFactory(address="sales@acme.test")
    arrive(mailbox, "old one", days_ago=60)
    client = logged_in(UserFactory(is_superuser=True))

    page = client.get(reverse("web:retention")).content.decode()
    assert 'data-plan-state="computing"' in page and "Not computed yet" in page
    assert "Computing a new one" in page

    saved_plan.compute_and_save()  # the job
    page = client.get(reverse("web:retention")).content.decode()
    assert 'data-plan-state="saved"' in page and "Computed <time" in page
    assert '<td class="num">1</td>' in _row(page, "sales@acme.test")


def test_saving_a_rule_asks_for_a_new_plan(at_scale):
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    saved_plan.compute_and_save()
    client = logged_in(UserFactory(is_superuser=True))
    client.post(reverse("web:retention"), {"mailbox": mailbox.pk, "days": "keep"})
    page = client.get(reverse("web:retention")).content.decode()
    assert 'data-plan-state="computing"' in page


def test_a_run_started_at_scale_counts_its_plan_in_its_job(at_scale):
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    client = logged_in(UserFactory(is_superuser=True))
    response = client.post(reverse("web:retention_run"), follow=True)
    run = RetentionRun.objects.get()
    assert run.planned_copies is None
    assert "it counts what it removes before it starts" in response.content.decode()
    run = sweep.execute(run.pk)
    assert run.planned_copies == 1 == run.copies_removed
