"""notify(): one service for every notification, by each user's choices, in the app
and by email through a job from the system sender."""

import pytest
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from postroom.accounts.models import Notification, NotificationEmail
from postroom.accounts.notify import choices_of, do_set_preferences, notify, notify_many
from postroom.jobs import drain_embedded_queue
from postroom.testing.factories import UserFactory

pytestmark = pytest.mark.django_db


def _with_smtp(settings, server):
    settings.POSTROOM = {
        **settings.POSTROOM,
        "NOTIFY_SMTP": f"smtp://{server.host}:{server.port}",
        "NOTIFY_FROM": "Postroom <postroom@acme.test>",
    }


def test_it_shows_a_notification_in_the_app_by_default():
    alice = UserFactory(username="alice")
    note = notify(alice, "assigned", "You have “Chairs”", "/conversations/1/")
    assert note is not None and note.kind == "assigned" and note.url == "/conversations/1/"
    assert not NotificationEmail.objects.exists()


def test_it_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="unknown notification kind"):
        notify(UserFactory(), "gossip", "psst")


def test_it_tells_nobody_deactivated():
    assert notify(UserFactory(is_active=False), "mentioned", "hello") is None
    assert not Notification.objects.exists()


def test_it_follows_the_users_choice_per_kind(settings, smtp_server):
    _with_smtp(settings, smtp_server)
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"mentioned": (False, True), "assigned": (True, False)})
    assert notify(alice, "mentioned", "Bob mentioned you") is None
    assert notify(alice, "assigned", "You have it") is not None
    assert list(Notification.objects.values_list("kind", flat=True)) == ["assigned"]
    email = NotificationEmail.objects.get()
    assert (email.kind, email.to) == ("mentioned", "alice@acme.test")
    assert {c["kind"]: (c["in_app"], c["by_email"]) for c in choices_of(alice)}["mentioned"] == (
        False,
        True,
    )


@pytest.mark.django_db(transaction=True)
def test_it_sends_an_email_once_from_the_system_sender(settings, smtp_server):
    _with_smtp(settings, smtp_server)
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"deadline_breached": (True, True)})
    notify(alice, "deadline_breached", "“Invoice” waited past its deadline", "/conversations/7/")
    assert DBTaskResult.objects.filter(task_path__endswith="send_notification_email").exists()
    drain_embedded_queue()
    drain_embedded_queue()  # a second run sends nothing more
    (mail,) = smtp_server.wait_for(1)
    assert mail.rcpt_tos == ["alice@acme.test"]
    assert mail.message["From"] == "Postroom <postroom@acme.test>"
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert "/conversations/7/" in mail.message.get_content()
    assert NotificationEmail.objects.get().status == "sent"
    from postroom.accounts.notify import send_email

    assert send_email(NotificationEmail.objects.get().pk) == "sent"
    assert len(smtp_server.messages) == 1


@override_settings()
def test_it_skips_email_with_a_logged_reason_when_no_server_is_configured(settings, caplog):
    settings.POSTROOM = {**settings.POSTROOM, "NOTIFY_SMTP": "", "NOTIFY_FROM": ""}
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"assigned": (True, True)})
    caplog.set_level("INFO", logger="postroom.accounts.notify")
    notify(alice, "assigned", "You have it")
    assert Notification.objects.count() == 1
    assert not NotificationEmail.objects.exists()
    assert "POSTROOM_NOTIFY_SMTP" in caplog.text


def test_notify_many_reads_choices_once_for_a_batch(django_assert_max_num_queries):
    users = [UserFactory() for _ in range(5)]
    with django_assert_max_num_queries(2):
        created = notify_many((u, "assigned", "yours", "") for u in users)
    assert len(created) == 5


@pytest.mark.django_db(transaction=True)
def test_a_second_job_for_the_same_email_sends_nothing(settings, smtp_server):
    from postroom.accounts.notify import send_email

    _with_smtp(settings, smtp_server)
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"assigned": (False, True)})
    notify(alice, "assigned", "yours")
    email = NotificationEmail.objects.get()
    NotificationEmail.objects.filter(pk=email.pk).update(status="sending")  # one in flight
    assert send_email(email.pk) == "sending"
    assert smtp_server.messages == []


@pytest.mark.django_db(transaction=True)
def test_housekeeping_queues_again_an_email_whose_job_was_lost(settings, smtp_server):
    from datetime import timedelta

    from django.utils import timezone

    from postroom.accounts.notify import requeue_stalled

    _with_smtp(settings, smtp_server)
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"assigned": (False, True)})
    notify(alice, "assigned", "yours")
    DBTaskResult.objects.all().delete()  # the job is lost
    assert requeue_stalled() == 0  # too young to be lost
    later = timezone.now() + timedelta(minutes=20)
    assert requeue_stalled(now=later) == 1
    assert requeue_stalled(now=later) == 0  # queued once
    drain_embedded_queue()
    assert len(smtp_server.wait_for(1)) == 1
    assert NotificationEmail.objects.get().status == "sent"


@pytest.mark.django_db(transaction=True)
def test_a_failing_server_is_retried_then_the_email_is_marked_failed(settings, smtp_server):
    from postroom.accounts.notify import send_email

    _with_smtp(settings, smtp_server)
    alice = UserFactory(username="alice")
    do_set_preferences(alice, {"assigned": (False, True)})
    notify(alice, "assigned", "yours")
    email = NotificationEmail.objects.get()
    smtp_server.fail_next(451, "try later", 3, at="MAIL")
    for _ in range(2):
        with pytest.raises(Exception, match="try later"):
            send_email(email.pk)
    assert send_email(email.pk) == "failed"
    email.refresh_from_db()
    assert (email.status, email.attempts) == ("failed", 3) and "try later" in email.last_error
