"""The round-robin turn of a rule's queue, fair under concurrency.

The turn is the member after the one who had the last turn (queue members in the order
of their ids), skipping those not eligible now. It is taken under the rule's RuleTurn
row lock: SELECT ... FOR UPDATE on PostgreSQL, and on SQLite the write lock every
Postroom transaction takes at BEGIN (IMMEDIATE). The lock is held until the caller's
transaction commits, so two job runners assigning at once take successive turns and the
spread over a queue with the same eligible members never exceeds one.
"""

from collections.abc import Iterable, Sequence

from django.db import IntegrityError, transaction
from django.db.models import F

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
    """Give the turn to the next eligible member and record it, under the row lock."""
    eligible = list(eligible)
    if not eligible:
        return None
    with transaction.atomic():
        turn = _locked_turn(rule)
        user_id = next_member(eligible, turn.last_user_id)
        RuleTurn.objects.filter(pk=turn.pk).update(last_user_id=user_id, turns=F("turns") + 1)
    return user_id


def peek_turn(rule: DistributionRule, eligible: Iterable[int]) -> int | None:
    """Whose turn it would be, without taking it ("Who would get this?")."""
    last = RuleTurn.objects.filter(rule=rule).values_list("last_user_id", flat=True).first()
    return next_member(list(eligible), last)


def _locked_turn(rule: DistributionRule) -> RuleTurn:
    turn = RuleTurn.objects.select_for_update().filter(rule=rule).first()
    if turn is not None:
        return turn
    # Rules get their row when they are added (actions.do_add_rule); this is for one
    # made otherwise. Two runners creating it at once: one wins, the other locks it.
    try:
        with transaction.atomic():
            RuleTurn.objects.create(rule=rule)
    except IntegrityError:
        pass
    return RuleTurn.objects.select_for_update().get(rule=rule)
