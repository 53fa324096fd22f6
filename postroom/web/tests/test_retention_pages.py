"""The retention and storage pages: administrators only; the dry run's figures, a run
queued from the page and its log; choices said before mail goes."""

import pytest
from django.urls import reverse

from postroom.mail.models import Message
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.retention import sweep
from postroom.retention.models import MailboxRetention, OrganisationRetention, RetentionRun
from postroom.retention.tests.helpers import arrive, bind_to_task
from postroom.testing.factories import MailboxFactory, TaskFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory(is_superuser=True)


def test_only_administrators_see_retention_and_storage():
    client = logged_in(UserFactory())
    for name in ("web:retention", "web:storage"):
        assert client.get(reverse(name)).status_code == 403


def test_the_retention_page_shows_the_dry_run_per_mailbox(admin):
    mailbox = MailboxFactory(address="sales@acme.test")
    arrive(mailbox, "old one", days_ago=60, attachment=b"%PDF x" * 100)
    arrive(mailbox, "new one", days_ago=1)
    page = logged_in(admin).get(reverse("web:retention")).content.decode()
    assert 'data-mailbox="sales@acme.test"' in page
    assert "30 days (organisation default)" in page
    assert "Run retention now" in page


def test_rules_are_saved_from_the_page_and_bad_input_is_refused(admin):
    mailbox = MailboxFactory()
    client = logged_in(admin)
    url = reverse("web:retention")
    client.post(url, {"default": "90"})
    assert OrganisationRetention.objects.get().days == 90
    client.post(url, {"mailbox": mailbox.pk, "days": "keep"})
    assert MailboxRetention.objects.get(mailbox=mailbox).days is None
    page = client.post(url, {"default": "custom", "default_custom": "soon"}, follow=True)
    assert "Not saved: &#x27;soon&#x27; is not a number of days" in page.content.decode()
    page = client.post(url, {"default": "custom", "default_custom": "0"}, follow=True)
    assert "between 1 and" in page.content.decode()
    assert OrganisationRetention.objects.get().days == 90


def test_a_run_started_from_the_page_is_queued_and_logged(admin):
    mailbox = MailboxFactory()
    arrive(mailbox, "old one", days_ago=60)
    client = logged_in(admin)
    response = client.post(reverse("web:retention_run"))
    run = RetentionRun.objects.get()
    assert response.url == reverse("web:retention_run_detail", args=[run.pk])
    assert run.planned_copies == 1 and run.requested_by == admin
    sweep.execute(run.pk)
    detail = client.get(response.url).content.decode()
    assert "1 copies and 1 emails removed" in detail
    assert mailbox.address in detail and "30 days (organisation default)" in detail
    assert f'data-run="{run.pk}"' in client.get(reverse("web:retention")).content.decode()


def test_the_storage_page_counts_per_mailbox(admin):
    mailbox = MailboxFactory(address="support@acme.test")
    arrive(mailbox, "one", days_ago=1)
    page = logged_in(admin).get(reverse("web:storage")).content.decode()
    assert 'data-mailbox="support@acme.test"' in page


def test_unticking_every_folder_asks_what_happens_to_the_mail_first():
    manager = UserFactory()
    mailbox = MailboxFactory()
    MailboxGrant.objects.create(mailbox=mailbox, user=manager, level=MailboxGrant.Level.MANAGE)
    arrive(mailbox, "recent", days_ago=1)
    client = logged_in(manager)
    response = client.post(reverse("web:mailbox_folders", args=[mailbox.pk]), {})
    assert response.url == reverse("web:retention_stop_sync", args=[mailbox.pk])
    assert Folder.objects.get(mailbox=mailbox).is_synced, "nothing changed yet"

    page = client.get(response.url).content.decode()
    assert "<strong>1</strong> email of it is on no CRM item and no task" in page
    refused = client.post(response.url, {}, follow=True).content.decode()
    assert "Sync is still on: choose whether" in refused
    client.post(response.url, {"mail": "remove"})
    assert not Folder.objects.get(mailbox=mailbox).is_synced
    (run,) = sweep.unfinished_runs()
    sweep.execute(run.pk)
    assert not Message.objects.exists()


def test_a_reader_cannot_switch_sync_off():
    reader = UserFactory()
    mailbox = MailboxFactory()
    MailboxGrant.objects.create(mailbox=mailbox, user=reader, level=MailboxGrant.Level.READ)
    url = reverse("web:retention_stop_sync", args=[mailbox.pk])
    assert logged_in(reader).post(url, {"mail": "remove"}).status_code == 403


def test_deactivating_someone_with_a_personal_mailbox_asks_about_its_mail(admin):
    person = UserFactory()
    mailbox = MailboxFactory(kind="personal", owner=person)
    arrive(mailbox, "private", days_ago=1)
    client = logged_in(admin)
    access = client.get(reverse("web:user_access", args=[person.pk])).content.decode()
    url = reverse("web:retention_deactivate", args=[person.pk])
    assert url in access
    page = client.get(url).content.decode()
    assert mailbox.address in page and "private" not in page
    client.post(url, {"mail": "keep"})
    person.refresh_from_db()
    assert not person.is_active and Message.objects.count() == 1


def test_a_plain_deactivation_of_someone_with_a_personal_mailbox_is_sent_to_the_choice(admin):
    person = UserFactory()
    MailboxFactory(kind="personal", owner=person)
    response = logged_in(admin).post(reverse("web:person_deactivate", args=[person.pk]))
    assert response.url == reverse("web:retention_deactivate", args=[person.pk])
    person.refresh_from_db()
    assert person.is_active


def test_the_django_admin_shows_whether_someone_is_active_but_has_no_checkbox_for_it(admin):
    admin.is_staff = True
    admin.save()
    url = reverse("admin:accounts_user_change", args=[UserFactory().pk])
    page = logged_in(admin).get(url).content.decode()
    assert "Active" in page and 'name="is_active"' not in page


def test_deleting_a_task_says_which_mail_goes_with_it():
    owner = UserFactory()
    mailbox = MailboxFactory()
    task = TaskFactory(responsible=owner)
    bind_to_task(arrive(mailbox, "only the task", days_ago=1), mailbox, task)
    client = logged_in(owner)
    url = reverse("web:task_delete", args=[task.pk])
    assert "<strong>1</strong> email is bound only to this task" in client.get(url).content.decode()
    assert logged_in(UserFactory()).get(url).status_code == 404
    client.post(url)
    (run,) = sweep.unfinished_runs()
    sweep.execute(run.pk)
    assert not Message.objects.exists()
