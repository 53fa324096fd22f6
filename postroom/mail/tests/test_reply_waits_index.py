"""A CRM timeline's reply waits: found by the message in a replied event's detail, through
an index on PostgreSQL (migration 0014), so a timeline never reads every reply event."""

import pytest
from django.db import connection, transaction

from postroom.mail.models import ConversationEvent
from postroom.mail.workflow import reply_waits
from postroom.testing.factories import ConversationFactory

Kind = ConversationEvent.Kind


@pytest.fixture
def events():
    conversation = ConversationFactory()
    for message, waited in ((101, 60), (102, 3600), (103, None)):
        detail = {"message": message} | ({"waited_seconds": waited} if waited else {})
        ConversationEvent.objects.create(
            conversation=conversation, kind=Kind.REPLIED, detail=detail
        )
    # Another kind of event naming a message is no reply.
    ConversationEvent.objects.create(
        conversation=conversation, kind=Kind.ASSIGNED, detail={"message": 104, "waited_seconds": 5}
    )


@pytest.mark.django_db
def test_reply_waits_are_those_of_the_replied_events_of_the_messages_asked_for(events):
    assert reply_waits([101, 102, 103, 104, 999]) == {101: 60, 102: 3600}
    assert reply_waits([102]) == {102: 3600}
    assert reply_waits([]) == {}


@pytest.mark.django_db
def test_the_reply_waits_query_can_use_the_index(events):
    """The index's expression must be the one Django writes for detail__message__in. It
    is PostgreSQL's: on SQLite the migration makes nothing (a timeline there is small)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            indexes = connection.introspection.get_constraints(cursor, "mail_conversationevent")
        assert "conv_event_replied_message" not in indexes
        return
    queryset = ConversationEvent.objects.filter(kind=Kind.REPLIED, detail__message__in=[101])
    sql, params = queryset.values_list("detail", flat=True).query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "conv_event_replied_message" in plan, plan
