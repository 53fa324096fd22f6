"""Deleting a message in Postroom moves it to the server's Trash (real Dovecot)."""

import imaplib

import pytest
from django.urls import reverse

from postroom import jobs
from postroom.mail.models import Conversation, MessageCopy
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import MailboxGrant
from postroom.sync.service import discover_folders, sync_mailbox
from postroom.testing.factories import UserFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation(dovecot, mail_user, dovecot_mailbox):
    discover_folders(dovecot_mailbox)
    dovecot.deliver(make_email(subject="Bin me"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    return Conversation.objects.get()


def _login(client, mailbox, level):
    user = UserFactory()
    do_grant_mailbox(mailbox, user, level)
    client.force_login(user)


def test_delete_moves_the_message_to_the_server_trash(client, dovecot, mail_user, conversation):
    _login(client, conversation.mailbox, MailboxGrant.Level.REPLY)
    message = conversation.messages.get()
    url = reverse("web:conversation_message_delete", args=[conversation.pk, message.pk])
    response = client.post(url, follow=True)
    assert b"Moved to the mailbox" in response.content
    assert b"Bin me</strong>" not in response.content
    assert not MessageCopy.objects.filter(folder__name="INBOX").exists()
    server = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    server.login(mail_user.username, mail_user.password)
    server.select("Trash", readonly=True)
    assert server.uid("SEARCH", None, "ALL")[1] == [b"1"]
    server.logout()


def test_a_reader_may_not_delete(client, conversation):
    _login(client, conversation.mailbox, MailboxGrant.Level.READ)
    message = conversation.messages.get()
    url = reverse("web:conversation_message_delete", args=[conversation.pk, message.pk])
    assert client.post(url).status_code == 403
    assert MessageCopy.objects.exists()
