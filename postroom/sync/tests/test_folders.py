"""Folders, flags, deletions and the initial fetch window, against a real Dovecot."""

import imaplib
from datetime import UTC, datetime, timedelta

import pytest

from postroom import jobs
from postroom.crm.models import Lead
from postroom.mail import rawstore
from postroom.mail.models import Conversation, Message, MessageCopy, listed_conversations
from postroom.mailboxes.models import Folder
from postroom.sync import service
from postroom.sync.service import delete_on_server, discover_folders, sync_folder, sync_mailbox
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def server(dovecot, mail_user):
    """A plain imaplib session as another mail client of the same user."""
    client = imaplib.IMAP4(dovecot.host, dovecot.imap_port)
    client.login(mail_user.username, mail_user.password)
    yield client
    client.logout()


def _roles(mailbox) -> dict[str, tuple[str, bool]]:
    return {f.name: (f.role, f.is_synced) for f in mailbox.folders.all()}


def test_it_discovers_folders_with_their_roles(dovecot_mailbox):
    discover_folders(dovecot_mailbox)
    roles = _roles(dovecot_mailbox)
    assert roles["INBOX"] == ("inbox", True)
    assert roles["Sent"] == ("sent", True)
    assert roles["Junk"] == ("spam", False)
    assert roles["Trash"] == ("trash", False)
    assert roles["Archive"][0] == "archive" and roles["Drafts"][0] == "drafts"


def test_sent_mail_joins_the_conversation(dovecot, mail_user, dovecot_mailbox):
    discover_folders(dovecot_mailbox)
    dovecot.deliver(make_email(message_id="<ask@customer.test>"), to=mail_user.address)
    reply = make_email(sender=mail_user.address, to="anna@customer.test",
                       subject="Re: Price request", in_reply_to="<ask@customer.test>")  # fmt: skip
    dovecot.append(mail_user.username, mail_user.password, reply, folder="Sent")
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    conversation = Conversation.objects.get()
    assert conversation.message_count == 2


def test_mail_in_the_spam_folder_never_reaches_the_crm(dovecot, mail_user, dovecot_mailbox):
    discover_folders(dovecot_mailbox)
    dovecot_mailbox.folders.filter(name="Junk").update(is_synced=True)
    junk = make_email(sender="spammer@bad.test", subject="You won")
    dovecot.append(mail_user.username, mail_user.password, junk, folder="Junk")
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    assert Message.objects.get().status == Message.Status.PARSED  # shown, but…
    assert not Lead.objects.exists()  # …never in the CRM


def test_a_mailbox_whose_spam_folder_is_inbox_says_why_nothing_reaches_the_crm(dovecot_mailbox):
    dovecot_mailbox.folders.filter(name="INBOX").update(role=Folder.Role.SPAM)
    assert "never reaches the CRM" in dovecot_mailbox.warnings()[0]


def test_flags_changed_on_the_server_show_in_postroom(dovecot, mail_user, dovecot_mailbox, server):
    dovecot.deliver(make_email(), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    assert not MessageCopy.objects.get().is_seen
    server.select("INBOX")
    server.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    sync_mailbox(dovecot_mailbox)
    assert MessageCopy.objects.get().is_seen
    server.uid("STORE", "1", "-FLAGS", "(\\Seen)")
    sync_mailbox(dovecot_mailbox)
    assert not MessageCopy.objects.get().is_seen


def test_messages_deleted_on_the_server_leave_the_folder(
    dovecot, mail_user, dovecot_mailbox, server
):
    dovecot.deliver(make_email(subject="keep"), to=mail_user.address)
    dovecot.deliver(make_email(subject="drop"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    server.select("INBOX")
    server.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    server.expunge()
    sync_mailbox(dovecot_mailbox)
    assert list(MessageCopy.objects.values_list("message__identity", flat=True)) == [
        Message.objects.get(copies__uid=1).identity
    ]
    assert Message.objects.count() == 2  # the email itself stays (it may be on the CRM)


def test_a_conversation_whose_emails_were_deleted_on_the_server_leaves_the_list(
    dovecot, mail_user, dovecot_mailbox, server
):
    dovecot.deliver(make_email(subject="keep"), to=mail_user.address)
    dovecot.deliver(make_email(subject="drop"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    server.select("INBOX")
    server.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    server.expunge()
    sync_mailbox(dovecot_mailbox)
    assert [c.subject for c in listed_conversations(dovecot_mailbox)] == ["keep"]


def test_an_email_moved_between_synced_folders_stays_in_its_conversation(
    dovecot, mail_user, dovecot_mailbox, server
):
    discover_folders(dovecot_mailbox)
    dovecot_mailbox.folders.filter(name="Archive").update(is_synced=True)
    dovecot.deliver(make_email(subject="file me"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    before = Conversation.objects.get()
    server.select("INBOX")
    server.uid("MOVE", "1", "Archive")
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    assert MessageCopy.objects.get().folder.name == "Archive"
    assert [(c.pk, c.message_count) for c in listed_conversations(dovecot_mailbox)] == [
        (before.pk, 1)
    ]


def test_a_reply_deleted_on_the_server_leaves_its_conversation_with_the_rest(
    dovecot, mail_user, dovecot_mailbox, server
):
    dovecot.deliver(make_email(message_id="<ask@customer.test>"), to=mail_user.address)
    reply = make_email(subject="Re: Price request", in_reply_to="<ask@customer.test>")
    dovecot.deliver(reply, to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    assert Conversation.objects.get().message_count == 2
    server.select("INBOX")
    server.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    server.expunge()
    sync_mailbox(dovecot_mailbox)
    assert [c.message_count for c in listed_conversations(dovecot_mailbox)] == [1]


def test_deleting_in_postroom_moves_the_message_to_the_server_trash(
    dovecot, mail_user, dovecot_mailbox, server
):
    discover_folders(dovecot_mailbox)
    dovecot.deliver(make_email(subject="to bin"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    delete_on_server(MessageCopy.objects.get())
    assert not MessageCopy.objects.exists()
    server.select("INBOX", readonly=True)
    assert server.uid("SEARCH", None, "ALL")[1] == [b""]
    server.select("Trash", readonly=True)
    assert server.uid("SEARCH", None, "ALL")[1] == [b"1"]


def test_the_initial_fetch_takes_the_window_newest_first(
    dovecot, mail_user, dovecot_mailbox, settings
):
    old = datetime.now(UTC) - timedelta(days=60)
    for n in range(3):
        raw = make_email(subject=f"old {n}", date=old)
        dovecot.append(mail_user.username, mail_user.password, raw, date=old)
    for n in range(5):
        dovecot.append(mail_user.username, mail_user.password, make_email(subject=f"new {n}"))
    settings.POSTROOM = {**settings.POSTROOM, "SYNC_BATCH": 2}
    inbox = dovecot_mailbox.folders.get(name="INBOX")
    with service._session(dovecot_mailbox) as client:
        summary = sync_folder(client, inbox, max_batches=1)
    assert summary.more
    jobs.drain_embedded_queue()  # the `record` job of each staged batch
    assert sorted(MessageCopy.objects.values_list("uid", flat=True)) == [7, 8]  # the newest
    inbox.refresh_from_db()
    assert (inbox.backfill_done, inbox.backfill_total) == (2, 5)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    assert sorted(MessageCopy.objects.values_list("uid", flat=True)) == [4, 5, 6, 7, 8]
    inbox.refresh_from_db()
    assert inbox.backfill_below is None and inbox.backfill_done == 5


def test_a_message_over_the_size_limit_keeps_its_headers_and_says_so(
    dovecot, mail_user, dovecot_mailbox, settings
):
    settings.POSTROOM = {**settings.POSTROOM, "MAX_MESSAGE_SIZE": 20_000}
    dovecot.deliver(make_email(subject="Huge", body="x" * 50_000), to=mail_user.address)
    dovecot.deliver(make_email(subject="Small"), to=mail_user.address)
    sync_mailbox(dovecot_mailbox)
    jobs.drain_embedded_queue()
    huge = Message.objects.get(subject="Huge")
    assert huge.truncated_size > 50_000 and huge.raw_size < 20_000
    assert Message.objects.get(subject="Small").truncated_size is None


def test_a_message_the_server_fails_to_give_does_not_stop_the_folder(
    dovecot, mail_user, dovecot_mailbox, monkeypatch
):
    for n in range(3):
        dovecot.deliver(make_email(subject=f"m{n}"), to=mail_user.address)
    real_fetch = service.imap.fetch

    def fetch_failing_uid_2(client, uids, **kwargs):
        if 2 in uids:  # the server answers NO for this one message
            raise service.imap.SyncError("UID FETCH failed: [SERVERBUG] broken message")
        return real_fetch(client, uids, **kwargs)

    monkeypatch.setattr(service.imap, "fetch", fetch_failing_uid_2)
    assert sync_mailbox(dovecot_mailbox).new == 3
    jobs.drain_embedded_queue()
    marker = Message.objects.get(copies__uid=2)
    assert marker.status == Message.Status.QUARANTINED
    assert Message.objects.filter(status=Message.Status.PARSED).count() == 2
    assert dovecot_mailbox.folders.get(name="INBOX").last_uid == 3


def test_syncs_of_many_batches_add_to_the_thread_s_packs_and_keep_every_byte(
    dovecot, mail_user, dovecot_mailbox, settings, tmp_path
):
    # The pack thread of the pipelined sync writes to the syncing thread's packs (one
    # for bulk, written past the page cache, one for new mail): syncs add to them
    # instead of starting a file each.
    settings.DATA_DIR = tmp_path
    settings.POSTROOM = {**settings.POSTROOM, "RAW_STORE": "files", "SYNC_BATCH": 2}
    sent = [make_email(subject=f"Batch {n}", body=f"body {n} " * 50) for n in range(9)]
    for raw in sent[:5]:
        dovecot.deliver(raw, to=mail_user.address)
    sync_mailbox(dovecot_mailbox)  # a backfill of three batches: staged, then recorded
    jobs.drain_embedded_queue()
    for new in (sent[5:7], sent[7:]):
        for raw in new:
            dovecot.deliver(raw, to=mail_user.address)
        sync_mailbox(dovecot_mailbox)  # new mail: recorded at once
    assert len(list((tmp_path / "raw").glob("packs/*/*.pack"))) == 2
    raws = rawstore.get_many(MessageCopy.objects.values_list("message__raw_sha256", flat=True))
    assert len(raws) == 9  # each read back and checked against its SHA-256
    for n, raw in enumerate(sent):
        body = raw.split(b"\n\n", 1)[1]
        assert sum(body in stored.replace(b"\r\n", b"\n") for stored in raws.values()) == 1, n
