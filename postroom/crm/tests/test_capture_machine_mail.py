"""Machine mail (auto-replies, mailing lists, bounces) never creates CRM items."""

import pytest

from postroom.crm.capture import capture_message
from postroom.crm.models import Activity, Lead
from postroom.mail.ingest import FetchedMessage, parse_stored, store_copy
from postroom.testing.factories import MailboxFactory
from postroom.testing.mail import make_email

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(crm_rule="lead")


def _arrive(mailbox, raw):
    folder = mailbox.folders.get(name="INBOX")
    return parse_stored(store_copy(folder, 1, FetchedMessage(uid=1, raw=raw)).message)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"headers": {"Auto-Submitted": "auto-replied"}}, "auto-reply: never creates CRM items"),
        ({"subject": "Automatic reply: Price request"}, "auto-reply: never creates CRM items"),
        (
            {"headers": {"List-Id": "<news.customer.test>"}},
            "mailing-list mail: never creates CRM items",
        ),
        ({"sender": "MAILER-DAEMON@mx.customer.test"}, "bounce: never creates CRM items"),
    ],
)
def test_it_skips_machine_mail_with_a_clear_reason(mailbox, fields, reason):
    result = capture_message(_arrive(mailbox, make_email(**fields)), mailbox)
    assert result.skipped == reason
    assert not Lead.objects.exists()
    assert not Activity.objects.exists()


def test_it_still_captures_mail_from_a_person(mailbox):
    result = capture_message(_arrive(mailbox, make_email()), mailbox)
    assert result.skipped == "" and Lead.objects.count() == 1
