"""Taking turns on email addresses, so that two captures never both create an item for
one new sender.

Two job runners may capture mail of the same new person at once: the same email seen
through sales@ and info@, or two emails of one sender in two mailboxes. Each reads "no
contact, no lead", and each would create a lead. A capture therefore first locks the
addresses it is about to look up, until its transaction ends; the second waits, then
reads what the first committed and binds to it.

PostgreSQL: transaction-level advisory locks on a 64-bit hash of each address, taken in
one statement in ascending order, so that two batches never wait on each other in a
circle. SQLite needs none: its transactions are IMMEDIATE (see settings), so a writer
holds the database's write lock from its first statement, and captures take turns.
"""

from collections.abc import Iterable

from django.db import connection

from .models import normalise_email


def lock_addresses(addresses: Iterable[str]) -> None:
    """Hold a lock on each address until the current transaction ends."""
    if connection.vendor != "postgresql":
        return
    unique = sorted({normalise_email(a) for a in addresses} - {""})
    if not unique:
        return
    assert connection.in_atomic_block, "address locks last until the transaction ends"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(key) FROM ("
            " SELECT DISTINCT hashtextextended(address, 0) AS key"
            " FROM unnest(%s::text[]) AS address ORDER BY key"
            ") AS keys",
            [unique],
        )
