"""The search filters offer what a user can use: their own BCC tracker, labelled, and
nobody else's; folders that Postroom fills, not folders that are not synced. The
shell's `postroom mailbox list` leaves trackers out too."""

import re

import pytest
from django.core.management import call_command
from django.urls import reverse

from postroom.mailboxes import personal
from postroom.mailboxes.actions import do_grant_mailbox
from postroom.mailboxes.models import Folder
from postroom.sync.ingress import ingress_folder
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.web import logged_in

pytestmark = pytest.mark.django_db


def _options(user, name: str) -> list[str]:
    page = logged_in(user).get(reverse("web:search")).content.decode()
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    return [label.strip() for label in re.findall(r"<option[^>]*>([^<]*)</option>", select)]


@pytest.fixture
def sales():
    mailbox = MailboxFactory(name="Sales", address="sales@acme.test")
    Folder.objects.create(mailbox=mailbox, name="Old stuff", is_synced=False)
    return mailbox


def test_a_user_is_offered_their_own_tracker_labelled_and_nobody_elses(sales):
    alice, bob = UserFactory(), UserFactory()
    admin = UserFactory(is_superuser=True)
    for user in (alice, bob):
        do_grant_mailbox(sales, user)
    ingress_folder(personal.tracker_for(alice).mailbox_id, sent=True)

    mine = _options(alice, "mailbox")
    assert len(mine) == 3 and "Sales &lt;sales@acme.test&gt;" in mine
    assert "Your BCC tracker (mail you sent with it in BCC)" in mine
    assert not any("track-" in option for option in mine), "labelled, not by its address"
    assert "Your BCC tracker" in _options(alice, "folder")
    for other in (bob, admin):
        assert not any("track" in o.lower() for o in _options(other, "mailbox"))
        assert not any("track" in o.lower() for o in _options(other, "folder"))


def test_folders_that_are_not_synced_are_not_offered(sales):
    ingress_only = MailboxFactory(name="Info", address="info@acme.test")
    ingress_folder(ingress_only.pk)
    admin = UserFactory(is_superuser=True)
    folders = _options(admin, "folder")
    assert "Sales: INBOX" in folders and "Info: (ingress)" in folders
    assert "Sales: Old stuff" not in folders


def test_the_mailbox_list_command_leaves_trackers_out(sales, capsys):
    personal.tracker_for(UserFactory())
    call_command("mailbox", "list")
    out = capsys.readouterr().out
    assert "sales@acme.test" in out
    assert "track-" not in out and len(out.strip().splitlines()) == 1
