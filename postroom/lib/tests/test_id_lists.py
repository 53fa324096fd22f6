"""AmongIds filters on a list of ids as `__in` does (one array parameter on PostgreSQL)."""

import pytest
from django.db.models import F

from postroom.lib.id_lists import AmongIds
from postroom.mailboxes.models import Mailbox
from postroom.testing.factories import MailboxFactory

pytestmark = pytest.mark.django_db


def test_it_keeps_the_rows_among_the_ids_as_in_does():
    one, two, three = (MailboxFactory(name=name) for name in ("One", "Two", "Three"))
    chosen = [one.pk, three.pk, 987654]
    among = Mailbox.objects.filter(AmongIds(F("pk"), chosen))
    assert set(among) == set(Mailbox.objects.filter(pk__in=chosen)) == {one, three}
    assert set(Mailbox.objects.exclude(AmongIds(F("pk"), chosen))) == {two}
    assert set(Mailbox.objects.filter(AmongIds(F("pk") + 0, [two.pk]))) == {two}


def test_no_ids_keep_no_row_and_count_nothing():
    MailboxFactory(name="One")
    assert list(Mailbox.objects.filter(AmongIds(F("pk"), []))) == []
    assert Mailbox.objects.filter(AmongIds(F("pk"), [])).count() == 0
    assert Mailbox.objects.exclude(AmongIds(F("pk"), [])).count() == 1


def test_one_id_is_plain_equality_so_an_index_is_read_in_its_order():
    one = MailboxFactory(name="One")
    MailboxFactory(name="Two")
    among = Mailbox.objects.filter(AmongIds(F("pk"), [one.pk]))
    sql = str(among.query).upper()
    assert "= ANY(" not in sql and " IN (" not in sql
    assert list(among) == [one]
    assert [m.name for m in Mailbox.objects.exclude(AmongIds(F("pk"), [one.pk]))] == ["Two"]
