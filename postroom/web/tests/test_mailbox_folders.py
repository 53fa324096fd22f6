import pytest
from django.urls import reverse

from postroom.mailboxes.actions import do_grant_mailbox, do_update_folders
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


def test_a_manager_corrects_a_role_and_a_refresh_from_the_server_keeps_it(client, mailbox):
    _user(client, mailbox, MailboxGrant.Level.MANAGE)
    Folder.objects.create(mailbox=mailbox, name="Werbung", role="other")
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    werbung = mailbox.folders.get(name="Werbung")

    client.post(url, {"sync": ["INBOX", "Werbung"], f"role-{werbung.pk}": "spam"})

    werbung.refresh_from_db()
    assert (werbung.role, werbung.role_is_chosen, werbung.is_synced) == ("spam", True, True)
    assert b"chosen here" in client.get(url).content
    # The server flags the folder as something else later: the manager's choice stays.
    do_update_folders(mailbox, [("INBOX", "inbox"), ("Werbung", "archive"), ("Archive", "archive")])
    werbung.refresh_from_db()
    assert werbung.role == "spam"


def test_inbox_made_the_spam_folder_shows_why_nothing_reaches_the_crm(client, mailbox):
    _user(client, mailbox, MailboxGrant.Level.MANAGE)
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    inbox = mailbox.folders.get(name="INBOX")

    client.post(url, {"sync": ["INBOX"], f"role-{inbox.pk}": "spam"})

    assert b"never reaches the CRM, so no mail of this mailbox does" in client.get(url).content
    client.post(url, {"sync": ["INBOX"], f"role-{inbox.pk}": "inbox"})
    assert not mailbox.warnings()


@pytest.mark.parametrize("role", ["junk-please", "<script>", ""])
def test_an_unknown_role_changes_nothing(client, mailbox, role):
    _user(client, mailbox, MailboxGrant.Level.MANAGE)
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    archive = mailbox.folders.get(name="Archive")

    response = client.post(url, {"sync": ["Archive"], f"role-{archive.pk}": role}, follow=True)

    archive.refresh_from_db()
    assert archive.role == "archive" and not archive.role_is_chosen
    if role:
        assert b"unknown folder role" in response.content
        assert not archive.is_synced, "nothing of a refused form is saved"


def test_two_trash_folders_are_refused(client, mailbox):
    _user(client, mailbox, MailboxGrant.Level.MANAGE)
    Folder.objects.create(mailbox=mailbox, name="Trash", role="trash")
    url = reverse("web:mailbox_folders", args=[mailbox.pk])
    archive = mailbox.folders.get(name="Archive")

    response = client.post(url, {"sync": ["Archive"], f"role-{archive.pk}": "trash"}, follow=True)

    assert b"only one folder can be Trash" in response.content
    assert mailbox.folders.get(name="Archive").role == "archive"
