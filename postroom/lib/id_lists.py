"""A filter on a long list of ids as one parameter (PostgreSQL: `= ANY(array)`).

Django's `__in` prepares, quotes and binds each id of the list, and the database parses
each placeholder again: an inbox page across 200 mailboxes spent more time building its
statements (ten lists of 200 ids) than PostgreSQL spent running them. The plan is the
same: PostgreSQL turns `IN (1, 2, ...)` into `= ANY('{1,2,...}')` itself.
"""

from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db.models import BooleanField, Expression


class AmongIds(Expression):
    """`expression` is one of `ids`, as a condition for filter() or Q()."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, ids: Iterable[int]) -> None:
        super().__init__()
        self.expression = expression
        self.ids = [int(pk) for pk in ids]

    def get_source_expressions(self):
        return [self.expression]

    def set_source_expressions(self, exprs) -> None:
        (self.expression,) = exprs

    def resolve_expression(
        self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False
    ):
        clone = self.copy()
        clone.expression = self.expression.resolve_expression(
            query, allow_joins, reuse, summarize, for_save
        )
        return clone

    def as_sql(self, compiler, connection):
        # Nothing to be among: no row, as an empty `__in` (a count of it answers 0).
        if not self.ids:
            raise EmptyResultSet
        sql, params = compiler.compile(self.expression)
        # One id: plain equality. PostgreSQL 15 reads an index under `= ANY(array)` in no
        # order, so a one-mailbox inbox page of Closed walked the status index through
        # 19,000 rows (21 ms) instead of the mailbox's own, newest first (1 ms).
        if len(self.ids) == 1:
            return f"{sql} = %s", (*params, self.ids[0])
        if connection.vendor == "postgresql":
            return f"{sql} = ANY(%s)", (*params, self.ids)
        return f"{sql} IN ({', '.join(['%s'] * len(self.ids))})", (*params, *self.ids)
