"""The round-robin turn: whose it is, and fairness when several job runners take turns at
once (PostgreSQL: the RuleTurn row lock; SQLite: the write lock each transaction takes)."""

import threading
import time
from collections import Counter

import pytest
from django.db import connection, transaction

from postroom.routing.actions import do_add_rule
from postroom.routing.models import DistributionRule, RuleTurn
from postroom.routing.roundrobin import HeldTurns, next_member, peek_turn, take_turn
from postroom.testing.factories import MailboxFactory, UserFactory

RUNNERS = 4
TURNS_EACH = 40
BATCH = 4  # not the queue's length: a batch must not be a whole round


def test_the_turn_goes_to_the_next_member_after_the_last_one_and_wraps():
    assert next_member([3, 1, 2], None) == 1
    assert next_member([1, 2, 3], 1) == 2
    assert next_member([1, 2, 3], 3) == 1
    # The last one left the queue: the next after them still follows their place.
    assert next_member([1, 3, 4], 2) == 3
    assert next_member([], 2) is None


@pytest.mark.django_db
def test_a_rule_without_a_turn_row_gets_one_when_it_first_takes_a_turn():
    people = [UserFactory() for _ in range(2)]
    rule = DistributionRule.objects.create(mailbox=MailboxFactory(), kind="round-robin")
    assert peek_turn(rule, [p.pk for p in people]) == people[0].pk
    assert take_turn(rule, [p.pk for p in people]) == people[0].pk
    assert take_turn(rule, [p.pk for p in people]) == people[1].pk
    assert RuleTurn.objects.get(rule=rule).turns == 2


@pytest.mark.django_db(transaction=True)
def test_four_runners_assigning_at_once_never_take_the_same_turn():
    """GIVEN a round-robin over 5 people WHEN 4 job runners take 160 turns at once, each
    turn inside a transaction that goes on working after it (as capture does) THEN every
    turn is taken once, in order: after any number of turns the spread is at most 1.

    Without the lock two runners read the same last turn and give the next to the same
    person: the turn after it repeats them, and the spread reaches 2 at once."""
    people = [UserFactory() for _ in range(5)]
    rule = do_add_rule(MailboxFactory(), kind="round-robin", queue_users=people)
    eligible = [p.pk for p in people]
    taken: list[tuple[int, int]] = []  # (turn number, user id)
    errors: list[BaseException] = []
    start = threading.Barrier(RUNNERS)

    def runner() -> None:
        try:
            start.wait(10)
            for _ in range(TURNS_EACH):
                with transaction.atomic():
                    user_id = take_turn(rule, eligible)
                    number = RuleTurn.objects.values_list("turns", flat=True).get(rule=rule)
                    time.sleep(0.002)  # the rest of the capture's transaction
                taken.append((number, user_id))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    total = RUNNERS * TURNS_EACH
    assert sorted(number for number, _ in taken) == list(range(1, total + 1))
    counts = Counter({pk: 0 for pk in eligible})
    worst = 0
    for _, user_id in sorted(taken):
        counts[user_id] += 1
        worst = max(worst, max(counts.values()) - min(counts.values()))
    assert worst <= 1, f"spread reached {worst}: {counts}"
    assert set(counts.values()) == {total // len(people)}


@pytest.mark.django_db(transaction=True)
def test_four_runners_taking_turns_for_batches_at_once_take_them_in_order():
    """GIVEN a round-robin over 5 people WHEN 4 runners each capture batches of 4 emails at
    once, holding the batch's turns in memory (HeldTurns) and writing them at its end
    THEN the batches queue on the lock: every turn once, in order, spread at most 1."""
    people = [UserFactory() for _ in range(5)]
    rule = do_add_rule(MailboxFactory(), kind="round-robin", queue_users=people)
    eligible = [p.pk for p in people]
    taken: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(RUNNERS)

    def runner() -> None:
        try:
            start.wait(10)
            for _ in range(TURNS_EACH // BATCH):
                with transaction.atomic():
                    held = HeldTurns()
                    batch = [held.take(rule, eligible) for _ in range(BATCH)]
                    time.sleep(0.002)  # the rest of the capture's transaction
                    held.flush()
                    last = RuleTurn.objects.values_list("turns", flat=True).get(rule=rule)
                taken.extend((last - BATCH + n, user_id) for n, user_id in enumerate(batch, 1))
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=runner) for _ in range(RUNNERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    total = RUNNERS * TURNS_EACH
    assert sorted(number for number, _ in taken) == list(range(1, total + 1))
    counts = Counter({pk: 0 for pk in eligible})
    worst = 0
    for _, user_id in sorted(taken):
        counts[user_id] += 1
        worst = max(worst, max(counts.values()) - min(counts.values()))
    assert worst <= 1, f"spread reached {worst}: {counts}"
