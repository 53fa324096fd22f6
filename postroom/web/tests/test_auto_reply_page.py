"""The auto-reply page: a mailbox's managers set when and what it answers; a reader gets
403, a stranger 404; bad settings are refused with the reason."""

import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.routing.autoreply_models import AutoReply, AutoReplyLog
from postroom.routing.models import BusinessHours
from postroom.testing.factories import ConversationFactory, MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(
        address="sales@acme.test", name="Sales", smtp_host="127.0.0.1", smtp_port=2525,
        smtp_security="none",
    )  # fmt: skip


@pytest.fixture
def manager(mailbox):
    user = UserFactory(username="mia")
    do_grant_mailbox(mailbox, user, MailboxGrant.Level.MANAGE)
    return user


def url(mailbox):
    return reverse("web:mailbox_auto_reply", args=[mailbox.pk])


def office():
    return BusinessHours.objects.create(
        name="Office", time_zone="Europe/Berlin", intervals=[[0, 540, 1080]]
    )


def test_a_manager_turns_on_the_out_of_hours_auto_reply(mailbox, manager):
    calendar = office()
    client = logged_in(manager)
    assert "Auto-reply" in client.get(reverse("web:mailbox_settings", args=[mailbox.pk])).text
    answer = client.post(
        url(mailbox),
        {"when": "outside_hours", "calendar": calendar.pk, "subject": "",
         "body": "Hello {contact_name}, we answer tomorrow.", "period_days": 4},
    )  # fmt: skip
    assert answer.status_code == 302
    reply = AutoReply.objects.get(mailbox=mailbox)
    assert (reply.when, reply.calendar, reply.updated_by) == ("outside_hours", calendar, manager)
    assert "we answer tomorrow" in client.get(url(mailbox)).text


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ({"when": "outside_hours", "body": "Hi"}, "choose the business-hours calendar"),
        ({"when": "always", "body": ""}, "needs a text"),
        ({"when": "always", "body": "Dear {nickname}"}, "unknown placeholder {nickname}"),
        ({"when": "holidays", "body": "Hi", "calendar": "office"}, "has no holidays"),
        ({"when": "outside_hours", "body": "Hi", "calendar": "empty"}, "has no working hours"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(mailbox, manager, fields, refusal):
    calendars = {
        "office": office,
        "empty": lambda: BusinessHours.objects.create(name="None", intervals=[]),
    }
    if "calendar" in fields:
        fields = {**fields, "calendar": calendars[fields["calendar"]]().pk}
    answer = logged_in(manager).post(url(mailbox), {"period_days": 4, **fields})
    assert answer.status_code == 200
    assert refusal in answer.text
    assert not AutoReply.objects.exists()


def test_a_mailbox_without_smtp_cannot_answer(manager):
    mailbox = MailboxFactory(address="hr@acme.test")
    do_grant_mailbox(mailbox, manager, MailboxGrant.Level.MANAGE)
    answer = logged_in(manager).post(url(mailbox), {"when": "always", "body": "Hi",
                                                    "period_days": 4})  # fmt: skip
    assert "no SMTP server" in answer.text


def test_a_reader_gets_403_and_a_stranger_404(mailbox):
    reader, stranger = UserFactory(), UserFactory()
    do_grant_mailbox(mailbox, reader, MailboxGrant.Level.REPLY)
    for method in ("get", "post"):
        assert getattr(logged_in(reader), method)(url(mailbox)).status_code == 403
        assert getattr(logged_in(stranger), method)(url(mailbox)).status_code == 404
    assert not AutoReply.objects.exists()


def test_changes_without_the_csrf_token_are_refused(mailbox, manager):
    client = logged_in(manager, enforce_csrf_checks=True)
    answer = client.post(url(mailbox), {"when": "always", "body": "Hi", "period_days": 4})
    assert answer.status_code == 403
    assert not AutoReply.objects.exists()


def test_the_conversation_history_says_why_no_auto_reply_went_out(mailbox, manager):
    conversation = ConversationFactory(mailbox=mailbox, subject="Chairs")
    message = _message()
    AutoReplyLog.objects.create(
        mailbox=mailbox, message=message, conversation=conversation,
        sender="noreply@shop.test", reason="a no-reply sender (noreply@shop.test)",
    )  # fmt: skip
    page = logged_in(manager).get(reverse("web:conversation", args=[conversation.pk]))
    assert "sent no auto-reply to noreply@shop.test: a no-reply sender" in page.text


def _message():
    from postroom.mail.models import Message

    return Message.objects.create(identity="x@y", message_id="x@y", raw_sha256="0" * 64,
                                  raw_size=1)  # fmt: skip
