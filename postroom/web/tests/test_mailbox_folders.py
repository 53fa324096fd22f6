import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder, MailboxGrant
from postroom.testing.factories import MailboxFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    mailbox = MailboxFactory()
    Folder.objects.create(mailbox=mailbox, name="Archive", role="archive", is_synced=False)
    return mailbox


def _user(client, mailbox, level):
    user = UserFactory()
    do_grant_mailbox(mailbox, user, level)
    client.force_login(user)


def test_a_manager_picks_the_folders_that_sync(client, mailbox):
    _user(client, mailbox, MailboxGrant.Level.MANAGE)
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    assert b"Archive" in client.get(url).content
    client.post(url, {"sync": ["Archive"]})
    assert dict(mailbox.folders.values_list("name", "is_synced")) == {
        "INBOX": False,
        "Archive": True,
    }


def test_a_reader_cannot_see_the_folder_settings(client, mailbox):
    _user(client, mailbox, MailboxGrant.Level.REPLY)
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"sync": []}).status_code == 404
    assert mailbox.folders.get(name="INBOX").is_synced
