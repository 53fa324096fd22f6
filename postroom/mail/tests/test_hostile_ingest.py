"""Each kind of hostile email (postroom.testing.hostile) through store and ingest, at the
scale that once stopped the service: stored, then parsed (and shown degraded) or
quarantined with the reason; never left unparsed."""

import pytest

from postroom.mail.bounds import STORED_BODY_CHARS
from postroom.mail.models import Message
from postroom.mail.search import search
from postroom.testing import hostile
from postroom.testing.factories import MailboxFactory, UserFactory
from postroom.testing.mail import ingested

pytestmark = pytest.mark.django_db


@pytest.fixture
def mailbox():
    return MailboxFactory(name="Sales")


@pytest.mark.parametrize("kind", sorted(hostile.CORPUS))
def test_every_hostile_email_is_parsed_or_quarantined_with_a_reason(mailbox, kind):
    message = ingested(mailbox, hostile.CORPUS[kind]())
    assert message.status in (Message.Status.PARSED, Message.Status.QUARANTINED)
    if message.status == Message.Status.QUARANTINED:
        assert message.error
    assert message.conversationmessage_set.filter(mailbox=mailbox).exists()


def test_deeply_nested_html_is_parsed_and_its_text_is_searchable(mailbox):
    reader = UserFactory(is_superuser=True)
    message = ingested(mailbox, hostile.deep_nesting())
    assert message.status == Message.Status.PARSED
    hits = search(reader, "deep inside")
    assert [hit.message.pk for hit in hits.hits] == [message.pk]


def test_a_thirty_megabyte_text_is_stored_once_as_a_prefix_beside_the_raw_copy(mailbox):
    message = ingested(mailbox, hostile.huge_text())
    assert message.status == Message.Status.PARSED
    assert message.body_truncated
    assert 0 < len(message.text_body) <= STORED_BODY_CHARS
    assert message.raw_size > 29_000_000


def test_an_email_of_ten_thousand_parts_is_quarantined_with_the_count(mailbox):
    message = ingested(mailbox, hostile.many_parts())
    assert message.status == Message.Status.QUARANTINED
    assert "MIME parts" in message.error


def test_megabyte_headers_keep_the_root_and_latest_references(mailbox):
    message = ingested(mailbox, hostile.long_header())
    assert message.status == Message.Status.PARSED
    assert len(message.references) == 100
    assert message.references[0] == "r0@hostile.test"
    assert len(message.subject) <= 10_000
