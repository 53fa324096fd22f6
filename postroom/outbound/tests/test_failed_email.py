"""A failed send can be put right (issue 19, point 4): its author and the managers of its
mailbox get Retry and Edit as draft, on the conversation and on the Outbox; the failure
notice goes away once it is resolved. Through a real SMTP server that refuses, then takes."""

import pytest
from django.urls import reverse

from postroom.accounts.models import Notification
from postroom.mail.models import ConversationMessage
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.outbound.models import Draft, OutboxMessage
from postroom.testing.factories import UserFactory
from postroom.testing.web import logged_in

from .conftest import receive, run_jobs

pytestmark = pytest.mark.django_db(transaction=True)

Status = OutboxMessage.Status


@pytest.fixture
def failed(sales, alice, smtp_server):
    """Alice's reply, refused by the server for good (550 at DATA)."""
    parent = receive(sales, message_id="<ask@customer.test>", subject="Chairs")
    conversation = ConversationMessage.objects.get(message=parent).conversation
    client = logged_in(alice)
    url = reverse("web:reply", args=[conversation.pk])
    initial = client.get(url).context["form"].initial
    form = {name: initial.get(name, "") for name in ("to", "subject", "token")}
    smtp_server.fail_next(550, "5.7.1 message refused as spam", at="DATA")
    client.post(url, {**form, "body_html": "<div>It is 4,000 €.</div>"})
    run_jobs()
    outbox = OutboxMessage.objects.get()
    assert outbox.status == Status.FAILED
    return outbox


def _fix(client, outbox, action: str, **data):
    name = "web:retry_send" if action == "retry" else "web:failed_to_draft"
    return client.post(reverse(name, args=[outbox.pk]), data)


def test_the_author_is_told_with_a_link_to_the_email(failed, alice):
    [notice] = Notification.objects.filter(user=alice)
    assert "was not sent" in notice.text and "550 5.7.1 message refused as spam" in notice.text
    assert notice.url.endswith(f"#outbox-{failed.pk}")


def test_the_conversation_and_the_outbox_offer_retry_and_edit_to_the_author(failed, alice):
    client = logged_in(alice)
    for url in (
        reverse("web:conversation", args=[failed.conversation_id]),
        reverse("web:outbox", args=[failed.mailbox_id]),
    ):
        html = client.get(url).content.decode()
        assert f'id="outbox-{failed.pk}"' in html
        assert reverse("web:retry_send", args=[failed.pk]) in html
        assert reverse("web:failed_to_draft", args=[failed.pk]) in html


def test_retry_sends_it_once_and_the_notice_goes(failed, alice, smtp_server):
    response = _fix(logged_in(alice), failed, "retry")
    assert response.status_code == 302
    assert response.url == reverse("web:conversation", args=[failed.conversation_id])
    assert not Notification.objects.filter(user=alice).exists()
    run_jobs()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (Status.SENT, 1)
    [mail] = smtp_server.wait_for(1)
    assert "It is 4,000" in mail.message.get_body(("plain",)).get_content()


def test_retry_from_the_outbox_goes_back_to_the_outbox(failed, alice):
    response = _fix(logged_in(alice), failed, "retry", back="outbox")
    assert response.url == reverse("web:outbox", args=[failed.mailbox_id])


def test_edit_as_draft_brings_back_what_was_written(failed, alice):
    client = logged_in(alice)
    response = _fix(client, failed, "edit")
    draft = Draft.objects.get()
    assert (draft.author, draft.kind, draft.conversation_id) == (
        alice,
        OutboxMessage.Kind.REPLY,
        failed.conversation_id,
    )
    assert draft.to == "Anna Client <anna@customer.test>" and "It is 4,000 €." in draft.html
    assert response.url.endswith(f"?draft={draft.pk}&message={failed.parent_id}")
    assert not OutboxMessage.objects.exists()
    assert not Notification.objects.filter(user=alice).exists()
    form = client.get(response.url)
    assert "It is 4,000 €." in form.context["html"]


def test_a_manager_of_the_mailbox_may_put_it_right(failed, sales):
    manager = UserFactory(username="mia")
    do_grant_mailbox(sales, manager, MailboxGrant.Level.MANAGE)
    client = logged_in(manager)
    html = client.get(reverse("web:outbox", args=[sales.pk])).content.decode()
    assert reverse("web:retry_send", args=[failed.pk]) in html
    assert _fix(client, failed, "retry").status_code == 302
    failed.refresh_from_db()
    assert failed.status == Status.QUEUED


def test_another_colleague_sees_the_failure_but_may_not_put_it_right(failed, sales):
    bob = UserFactory(username="bob")
    do_grant_mailbox(sales, bob, MailboxGrant.Level.REPLY)
    client = logged_in(bob)
    html = client.get(reverse("web:conversation", args=[failed.conversation_id])).content
    assert b"not sent." in html and reverse("web:retry_send", args=[failed.pk]).encode() not in html
    assert _fix(client, failed, "retry").status_code == 403
    assert _fix(client, failed, "edit").status_code == 403
    failed.refresh_from_db()
    assert failed.status == Status.FAILED and not Draft.objects.exists()


def test_a_stranger_does_not_learn_that_it_exists(failed):
    stranger = logged_in(UserFactory(username="eve"))
    assert _fix(stranger, failed, "retry").status_code == 404


def test_an_email_that_did_not_fail_is_left_alone(failed, alice):
    OutboxMessage.objects.filter(pk=failed.pk).update(status=Status.QUEUED)
    response = _fix(logged_in(alice), failed, "edit")
    assert response.status_code == 302
    assert not Draft.objects.exists() and OutboxMessage.objects.filter(pk=failed.pk).exists()


def test_it_needs_the_csrf_token(failed, alice):
    client = logged_in(alice, enforce_csrf_checks=True)
    assert _fix(client, failed, "retry").status_code == 403
    failed.refresh_from_db()
    assert failed.status == Status.FAILED
