"""The initial fetch window is a date, never a UID: mail older than the window stays on
the server whatever its UID (mail moved or restored into a folder, imports and server
migrations give old mail high UIDs), and widening the window fetches exactly the added
days. Against Dovecot, with mail APPENDed out of date order (APPEND with an internal date).
"""

from datetime import UTC, datetime, timedelta

import pytest

from postroom.crm.models import Lead
from postroom.mail.models import MessageCopy
from postroom.mailboxes.actions import SyncSettings, do_update_mailbox_settings
from postroom.mailboxes.models import Folder
from postroom.sync import service
from postroom.sync.service import sync_folder
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db(transaction=True)


def _append(dovecot, user, subject: str, days_ago: int) -> int:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    raw = make_email(subject=subject, date=when)
    return dovecot.append(user.username, user.password, raw, date=when)


@pytest.fixture
def mail_out_of_order(dovecot, mail_user):
    """UIDs in the order the mail reached the folder, not in date order: the two recent
    emails come first, then mail restored from an archive (60 and 200 days old), then
    one more recent email. Returns {subject: uid}."""
    order = [("recent 1", 1), ("recent 2", 2), ("restored 60", 60), ("restored 200", 200)]
    order += [("recent 3", 0)]
    return {subject: _append(dovecot, mail_user, subject, days) for subject, days in order}


def _sync(mailbox) -> service.SyncSummary:
    inbox = Folder.objects.select_related("mailbox").get(mailbox=mailbox, name="INBOX")
    with service._session(inbox.mailbox) as client:
        return sync_folder(client, inbox)


def _uids(mailbox) -> set[int]:
    return set(MessageCopy.objects.filter(mailbox=mailbox).values_list("uid", flat=True))


def _days(mailbox, days: int) -> None:
    settings = SyncSettings(mailbox.name, days, mailbox.poll_interval, mailbox.allow_self_signed)
    do_update_mailbox_settings(mailbox, settings, acting_user=None)


def test_first_sync_fetches_nothing_older_than_the_window_whatever_the_uid_order(
    dovecot_mailbox, mail_out_of_order
):
    assert mail_out_of_order["restored 200"] > mail_out_of_order["recent 2"]
    assert dovecot_mailbox.initial_days == 30

    summary = _sync(dovecot_mailbox)

    uid = mail_out_of_order
    assert _uids(dovecot_mailbox) == {uid["recent 1"], uid["recent 2"], uid["recent 3"]}
    assert summary.fetched == 3
    assert not Lead.objects.filter(title__startswith="restored").exists()
    inbox = dovecot_mailbox.folders.get(name="INBOX")
    assert inbox.last_uid == max(mail_out_of_order.values()), "all it holds was looked at"
    assert _sync(dovecot_mailbox).fetched == 0, "the old mail is not taken for new mail"


def test_mail_arriving_after_the_first_sync_is_fetched(
    dovecot, mail_user, dovecot_mailbox, mail_out_of_order
):
    _sync(dovecot_mailbox)

    later = _append(dovecot, mail_user, "arrived later", 0)

    assert _sync(dovecot_mailbox).fetched == 1
    assert later in _uids(dovecot_mailbox)


def test_a_wider_window_fetches_exactly_the_added_days(
    dovecot, mail_user, dovecot_mailbox, mail_out_of_order
):
    _sync(dovecot_mailbox)

    _days(dovecot_mailbox, 90)
    summary = _sync(dovecot_mailbox)

    assert (summary.fetched, summary.new) == (1, 1)
    uid = mail_out_of_order
    assert _uids(dovecot_mailbox) == {uid[s] for s in ("recent 1", "recent 2", "recent 3")} | {
        uid["restored 60"]
    }

    _days(dovecot_mailbox, 365)
    assert _sync(dovecot_mailbox).fetched == 1
    assert uid["restored 200"] in _uids(dovecot_mailbox)
    assert _sync(dovecot_mailbox).fetched == 0
