"""The round-robin turn of a rule's queue, fair under concurrency.

The turn is the member after the one who had the last turn (queue members in the order
of their ids), skipping those not eligible now. It is taken under the rule's RuleTurn
row lock: SELECT ... FOR UPDATE on PostgreSQL, and on SQLite the write lock every
Postroom transaction takes at BEGIN (IMMEDIATE). The lock is held until the caller's
transaction commits, so two job runners assigning at once take successive turns and the
spread over a queue with the same eligible members never exceeds one.
"""

from collections.abc import Iterable, Sequence

from django.db import IntegrityError, connection, transaction

from .models import DistributionRule, RuleTurn


def next_member(eligible: Sequence[int], last: int | None) -> int | None:
    """The first eligible id after `last`, wrapping around; None for an empty queue."""
    members = sorted(eligible)
    if not members:
        return None
    if last is not None:
        for member in members:
            if member > last:
                return member
    return members[0]


def take_turn(rule: DistributionRule, eligible: Iterable[int]) -> int | None:
    """Give the turn to the next eligible member and record it, under the row lock held
    until the caller's transaction ends (a transaction of its own outside one)."""
    eligible = list(eligible)
    if not eligible:
        return None
    if not connection.in_atomic_block:
        with transaction.atomic():
            return take_turn(rule, eligible)
    # Two statements of plain SQL: a turn is taken per email, and compiling ORM queries
    # cost more than running them.
    with connection.cursor() as cursor:
        turn_id, last = _locked_turn(cursor, rule)
        user_id = next_member(eligible, last)
        cursor.execute(
            f"UPDATE {_TABLE} SET last_user_id = %s, turns = turns + 1 WHERE id = %s",  # noqa: S608
            [user_id, turn_id],
        )
    return user_id


class HeldTurns:
    """Turns taken for a batch in one transaction (the pipeline's capture): each rule's
    row is locked and read at its first turn and held until the transaction ends, so the
    batch's further turns are given in memory and written once by flush(), which the
    caller runs before it commits. Runners assigning at once still queue on the lock."""

    def __init__(self) -> None:
        self._rows: dict[int, list] = {}  # rule id -> [turn row id, last user id, turns]

    def take(self, rule: DistributionRule, eligible: Iterable[int]) -> int | None:
        eligible = list(eligible)
        if not eligible:
            return None
        row = self._rows.get(rule.pk)
        if row is None:
            with connection.cursor() as cursor:
                row = self._rows[rule.pk] = [*_locked_turn(cursor, rule), 0]
        row[1] = next_member(eligible, row[1])
        row[2] += 1
        return row[1]

    def flush(self) -> None:
        with connection.cursor() as cursor:
            for turn_id, last, turns in self._rows.values():
                cursor.execute(
                    f"UPDATE {_TABLE} SET last_user_id = %s, turns = turns + %s WHERE id = %s",  # noqa: S608
                    [last, turns, turn_id],
                )
        self._rows.clear()


def peek_turn(rule: DistributionRule, eligible: Iterable[int]) -> int | None:
    """Whose turn it would be, without taking it ("Who would get this?")."""
    last = RuleTurn.objects.filter(rule=rule).values_list("last_user_id", flat=True).first()
    return next_member(list(eligible), last)


_TABLE = RuleTurn._meta.db_table  # a constant: the only name put into the SQL below


def _locked_turn(cursor, rule: DistributionRule) -> tuple[int, int | None]:
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT id, last_user_id FROM {_TABLE} WHERE rule_id = %s{lock}"  # noqa: S608
    cursor.execute(select, [rule.pk])
    row = cursor.fetchone()
    if row is not None:
        return row
    # Rules get their row when they are added (actions.do_add_rule); this is for one
    # made otherwise. Two runners creating it at once: one wins, the other locks it.
    try:
        with transaction.atomic():
            RuleTurn.objects.create(rule=rule)
    except IntegrityError:
        pass
    cursor.execute(select, [rule.pk])
    return cursor.fetchone()
