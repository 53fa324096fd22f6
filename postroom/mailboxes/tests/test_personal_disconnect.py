"""Disconnecting a personal mailbox, through the real Dovecot and a real sync worker: it
stops syncing at once and leaves every list, and the CRM keeps what its mail made."""

import pytest
from django.test import Client
from django.urls import reverse

from postroom import jobs, pipeline
from postroom.crm.actions import items_of
from postroom.crm.models import Activity, TimelineEntry
from postroom.mail.models import Conversation, Message, MessageCopy, RawMessage
from postroom.mailboxes import personal
from postroom.mailboxes.access import mailboxes_for
from postroom.mailboxes.actions import ConnectionSettings, MailboxError, do_add_mailbox
from postroom.mailboxes.models import Folder, Mailbox
from postroom.sync import leases
from postroom.sync.models import FolderLease
from postroom.sync.service import discover_folders, sync_folder_by_id, sync_mailbox
from postroom.testing.factories import ContactFactory, MailboxFactory, UserFactory
from postroom.testing.mail import make_email
from postroom.testing.processes import running, wait_for
from postroom.web.crm_timeline import timeline_for

pytestmark = pytest.mark.django_db(transaction=True)

ANNA = "anna@customer.test"


@pytest.fixture
def alice():
    return UserFactory(username="alice", email="alice@acme.test")


def _conn(dovecot, user, name: str) -> ConnectionSettings:
    return ConnectionSettings(
        address=user.address,
        name=name,
        imap_host=dovecot.host,
        imap_port=dovecot.imap_port,
        imap_security="none",
        username=user.username,
        password=user.password,
    )


def _personal(alice, dovecot, mail_user) -> Mailbox:
    mailbox = personal.do_add_personal_mailbox(
        alice, _conn(dovecot, mail_user, "Alice's mail"), personal.PersonalSettings()
    )
    discover_folders(mailbox)
    return mailbox


def _sync(*mailboxes) -> None:
    for mailbox in mailboxes:
        sync_mailbox(mailbox)
    jobs.drain_embedded_queue()


def test_the_crm_keeps_the_emails_of_a_disconnected_mailbox(
    dovecot, mail_user, other_mail_user, alice
):
    anna = ContactFactory(name="Anna Client", email=ANNA)
    me, sales = mail_user.address, other_mail_user.address
    mailbox = _personal(alice, dovecot, mail_user)
    shared = do_add_mailbox(_conn(dovecot, other_mail_user, "Sales"))
    dovecot.deliver(
        make_email(sender=ANNA, to=me, subject="Only to Alice", message_id="<alone@c.test>"),
        to=me,
    )
    both = make_email(sender=ANNA, to=f"{me}, {sales}", subject="To both", message_id="<b@c.test>")
    dovecot.deliver(both, to=me)
    dovecot.deliver(both, to=sales)
    _sync(mailbox, shared)
    alone = Activity.objects.get(message__message_id="alone@c.test")
    assert anna in items_of(alone)
    assert MessageCopy.objects.filter(message__message_id="b@c.test").count() == 2

    done = personal.do_disconnect_personal_mailbox(mailbox, acting_user=alice)

    assert done.address == me and done.conversations == 2
    assert not Mailbox.objects.filter(pk=mailbox.pk).exists()
    assert not Folder.objects.filter(mailbox_id=mailbox.pk).exists()
    assert not MessageCopy.objects.filter(mailbox_id=mailbox.pk).exists()
    assert not Conversation.objects.filter(mailbox_id=mailbox.pk).exists()
    # The emails and their activities stay, on Anna's timeline.
    assert set(Message.objects.values_list("message_id", flat=True)) == {"alone@c.test", "b@c.test"}
    kept = TimelineEntry.objects.filter(object_id=anna.pk, activity__isnull=False)
    assert set(kept.values_list("activity__subject", flat=True)) == {"Only to Alice", "To both"}
    assert anna in items_of(Activity.objects.get(pk=alone.pk))
    # The email the shared mailbox also holds keeps its copy and conversation there.
    assert MessageCopy.objects.filter(message__message_id="b@c.test").get().mailbox == shared
    assert Conversation.objects.filter(mailbox=shared).count() == 1
    # The timeline still lists both emails; only the one a mailbox still holds is readable.
    admin = UserFactory(is_superuser=True, is_staff=True)
    rows = {r.entry.activity.subject: r for r in timeline_for(admin, anna) if r.entry.activity}
    assert set(rows) == {"Only to Alice", "To both"}
    assert (rows["Only to Alice"].email_readable, rows["To both"].email_readable) == (False, True)
    client = Client()
    client.force_login(admin)
    page = client.get(reverse("web:contact", args=[anna.pk])).content.decode()
    assert "Only to Alice" in page and "To both" in page
    # Gone from its owner's lists.
    assert mailbox.pk not in mailboxes_for(alice).values_list("pk", flat=True)
    assert not personal.personal_mailboxes(alice).exists()


def test_no_worker_leases_or_syncs_a_disconnected_mailbox(dovecot, mail_user, alice):
    mailbox = _personal(alice, dovecot, mail_user)
    folder_ids = set(mailbox.folders.filter(is_synced=True).values_list("pk", flat=True))
    leases.heartbeat("w")
    assert folder_ids <= leases.claim("w", capacity=100)

    personal.do_disconnect_personal_mailbox(mailbox, acting_user=alice)

    assert not FolderLease.objects.filter(folder_id__in=folder_ids).exists(), "leases released"
    assert leases.renew("w").isdisjoint(folder_ids)
    assert leases.claim("w", capacity=100).isdisjoint(folder_ids)
    for folder_id in folder_ids:
        # What a worker's watcher of the folder runs next: it ends the watcher.
        with pytest.raises(Folder.DoesNotExist):
            sync_folder_by_id(folder_id)


def test_a_running_worker_stops_syncing_a_disconnected_mailbox(
    dovecot, mail_user, other_mail_user, alice, live_env, tmp_path
):
    mailbox = _personal(alice, dovecot, mail_user)
    shared = do_add_mailbox(_conn(dovecot, other_mail_user, "Sales"))
    folder_ids = set(Folder.objects.filter(is_synced=True).values_list("pk", flat=True))
    env = {**live_env, "POSTROOM_POLL_INTERVAL": "300", "POSTROOM_LEASE_TTL": "3"}

    def stored_raw(box: Mailbox) -> int:
        return MessageCopy.objects.filter(mailbox_id=box.pk).count()

    with running(["sync", "--forever"], env, tmp_path / "worker.log"):
        wait_for(
            lambda: FolderLease.objects.filter(folder_id__in=folder_ids).count() == len(folder_ids),
            30,
            "the worker to take every folder",
        )
        dovecot.deliver(make_email(subject="Before"), to=mail_user.address)
        wait_for(lambda: stored_raw(mailbox) == 1, 30, "the mail before the disconnection")

        personal.do_disconnect_personal_mailbox(mailbox, acting_user=alice)
        assert not FolderLease.objects.filter(folder__mailbox_id=mailbox.pk).exists()

        dovecot.deliver(make_email(subject="After"), to=mail_user.address)
        # The worker goes on with the other mailbox: once its mail is in, the worker had
        # every chance to fetch the disconnected mailbox's mail too.
        dovecot.deliver(make_email(subject="Marker"), to=other_mail_user.address)
        wait_for(lambda: stored_raw(shared) == 1, 30, "the other mailbox's mail")
    assert not MessageCopy.objects.filter(mailbox_id=mailbox.pk).exists()
    assert Message.objects.count() == 2, "Before and Marker; After was never fetched"
    assert not FolderLease.objects.filter(folder__mailbox_id=mailbox.pk).exists()


def test_only_its_owner_disconnects_a_personal_mailbox(alice):
    mailbox = MailboxFactory(kind=Mailbox.Kind.PERSONAL, owner=alice)
    for stranger in (UserFactory(), UserFactory(is_superuser=True)):
        with pytest.raises(MailboxError, match="not your personal mailbox"):
            personal.do_disconnect_personal_mailbox(mailbox, acting_user=stranger)
    shared = MailboxFactory(owner=alice)
    with pytest.raises(MailboxError, match="not your personal mailbox"):
        personal.do_disconnect_personal_mailbox(shared, acting_user=alice)
    tracker = personal.tracker_for(alice).mailbox
    with pytest.raises(MailboxError, match="BCC tracker"):
        personal.do_disconnect_personal_mailbox(tracker, acting_user=alice)
    assert Mailbox.objects.filter(pk__in=[mailbox.pk, shared.pk, tracker.pk]).count() == 3
    assert Folder.objects.get(mailbox=mailbox).is_synced, "a refusal stops nothing"


def test_jobs_queued_for_a_mailbox_disconnected_since_end_quietly(caplog):
    gone = 987_654  # the id of a mailbox deleted after its sync queued the jobs
    with caplog.at_level("INFO", logger="postroom.pipeline"):
        pipeline.ingest.call([1, 2], gone)
        pipeline.capture.call([1], gone)
    assert "ingest of 2 message(s) skipped: mailbox 987654 is gone" in caplog.text
    assert "capture of 1 message(s) skipped" in caplog.text


def test_private_mail_only_the_disconnected_mailbox_held_is_deleted(
    dovecot, mail_user, other_mail_user, alice
):
    ContactFactory(name="Anna Client", email=ANNA)
    me, sales = mail_user.address, other_mail_user.address
    mailbox = _personal(alice, dovecot, mail_user)
    shared = do_add_mailbox(_conn(dovecot, other_mail_user, "Sales"))
    private = make_email(sender="Clinic <doc@clinic.test>", to=me, subject="Your results",
                         message_id="<private@clinic.test>")  # fmt: skip
    dovecot.deliver(private, to=me)
    on_timeline = make_email(sender=ANNA, to=me, subject="Only to Alice", message_id="<a@c.test>")
    dovecot.deliver(on_timeline, to=me)
    both = make_email(sender=ANNA, to=f"{me}, {sales}", subject="To both", message_id="<b@c.test>")
    dovecot.deliver(both, to=me)
    dovecot.deliver(both, to=sales)
    _sync(mailbox, shared)
    private_raw = Message.objects.get(message_id="private@clinic.test").raw_sha256

    client = Client()
    client.force_login(alice)
    client.post(reverse("web:disconnect_mailbox", args=[mailbox.pk]))
    jobs.drain_embedded_queue()

    # The private email is gone with its bytes; the CRM's and the shared mailbox's stay.
    assert set(Message.objects.values_list("message_id", flat=True)) == {"a@c.test", "b@c.test"}
    assert not RawMessage.objects.filter(sha256=private_raw).exists()
    assert "deleted from Postroom" in client.get(reverse("web:my_mailboxes")).content.decode()
