"""Set-based inserts and updates for the hot paths: an initial sync and the ingest job.

Written by hand because Django's bulk_create builds a model instance and compiles
every value of every row (about 100 µs a row), and bulk_update writes one CASE per
field: at tens of thousands of messages a second that is most of the time. Here
constant columns are prepared once per batch, values the driver cannot take as they are
(dates, JSON) go through their field once per distinct value, and rows go to the
database with ON CONFLICT DO NOTHING (SQLite ≥ 3.24 and PostgreSQL), so a row that is
already there is skipped, never doubled.
"""

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.utils import timezone

# Bound parameters per statement: SQLite allows 32,766 (since 3.32), PostgreSQL 65,535.
MAX_PARAMS = 30_000


class _Insert:
    """The SQL and the row preparation of an INSERT giving values for `varying` fields."""

    def __init__(self, model: type[models.Model], varying: Sequence[str]) -> None:
        self.db = db = connections[DEFAULT_DB_ALIAS]  # resolved once: the proxy costs a lookup
        fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.name in varying]
        by_name = {f.name: f for f in fields}
        constant: dict[str, Any] = {}
        now = timezone.now()
        for field in fields:
            if field.name in varying:
                continue
            auto_now = getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False)
            # get_default() is the default, or "" for text and None for nullable fields.
            value = now if auto_now else field.get_default()
            constant[field.column] = field.get_db_prep_save(value, db)
        varying_fields = [by_name[name] for name in varying]
        self.preps = [_prep(f, db) if _needs_prep(f) else None for f in varying_fields]
        self.columns = [f.column for f in varying_fields] + list(constant)
        self.tail = tuple(constant.values())
        quote = db.ops.quote_name
        self.meta, self.quote = model._meta, quote
        # Only identifiers from the model's own metadata, quoted; every value is a parameter.
        table, names = quote(model._meta.db_table), ", ".join(map(quote, self.columns))
        self.head = f"INSERT INTO {table} ({names})"

    def prepare(self, rows: Iterable[Sequence[Any]]) -> list[tuple]:
        preps, tail = self.preps, self.tail
        if not any(preps):
            return [(*row, *tail) for row in rows]
        return [
            tuple([p(v) if p else v for p, v in zip(preps, row, strict=True)]) + tail
            for row in rows
        ]


def _prep(field: models.Field, db: Any):
    """The field's adaptation of a value, memoised: a batch repeats the same few dates and
    flag lists, and adapting one costs microseconds."""
    seen: dict[Any, Any] = {}

    def prep(value: Any) -> Any:
        try:
            return seen[value]
        except KeyError:
            seen[value] = result = field.get_db_prep_save(value, db)
            return result
        except TypeError:  # unhashable (a list for a JSON field)
            return field.get_db_prep_save(value, db)

    return prep


def insert_ignoring_conflicts(
    model: type[models.Model], varying: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """INSERT rows giving values for the `varying` fields; other fields get their defaults."""
    insert = _Insert(model, varying)
    prepared = insert.prepare(rows)
    if prepared:
        params = ", ".join(["%s"] * len(insert.columns))
        with insert.db.cursor() as cursor:
            cursor.executemany(f"{insert.head} VALUES ({params}) ON CONFLICT DO NOTHING", prepared)


def insert_returning(
    model: type[models.Model],
    varying: Sequence[str],
    rows: Iterable[Sequence[Any]],
    returning: Sequence[str],
    *,
    skip_conflicts: bool = True,
) -> list[tuple]:
    """Like insert_ignoring_conflicts, in multi-row statements; the `returning` fields of
    the rows that were inserted (not of those skipped as already there). Without
    `skip_conflicts` a conflict raises IntegrityError, and every row comes back, in
    the order given (as Django's bulk_create relies on, on SQLite and PostgreSQL)."""
    insert = _Insert(model, varying)
    prepared = insert.prepare(rows)
    if not prepared:
        return []
    width = len(insert.columns)
    one = "(" + ", ".join(["%s"] * width) + ")"
    back = ", ".join(insert.quote(insert.meta.get_field(name).column) for name in returning)
    per_statement = max(1, MAX_PARAMS // width)
    found: list[tuple] = []
    with insert.db.cursor() as cursor:
        for start in range(0, len(prepared), per_statement):
            chunk = prepared[start : start + per_statement]
            values = ", ".join([one] * len(chunk))
            conflict = " ON CONFLICT DO NOTHING" if skip_conflicts else ""
            cursor.execute(
                f"{insert.head} VALUES {values}{conflict} RETURNING {back}",  # noqa: S608
                [value for row in chunk for value in row],
            )
            found.extend(cursor.fetchall())
    return found


def create_objects(objects: Sequence[models.Model]) -> None:
    """bulk_create for a hot path: the unsaved instances of one model are inserted, and
    get their primary keys, as with bulk_create, at a fraction of its cost per row.

    As bulk_create does, it fills auto_now(_add) fields and takes the keys of related
    instances saved earlier in the same batch (a deal of a contact created a moment
    before); a conflict raises IntegrityError. No signals, no save(): as bulk_create.
    """
    if not objects:
        return
    model = type(objects[0])
    meta = model._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    now = timezone.now()
    stamped = [
        f.attname
        for f in fields
        if getattr(f, "auto_now_add", False) or getattr(f, "auto_now", False)
    ]
    related = [f for f in fields if f.is_relation]
    for obj in objects:
        for name in stamped:
            if getattr(obj, name) is None:
                setattr(obj, name, now)
        for field in related:
            if getattr(obj, field.attname) is None and field.is_cached(obj):
                target = field.get_cached_value(obj)
                if target is not None:
                    setattr(obj, field.attname, target.pk)
    rows = [tuple(getattr(obj, f.attname) for f in fields) for obj in objects]
    keys = insert_returning(
        model, [f.name for f in fields], rows, [meta.pk.name], skip_conflicts=False
    )
    alias = connections[DEFAULT_DB_ALIAS].alias
    for obj, (pk,) in zip(objects, keys, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, alias


def update_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """UPDATE each row's `fields` by primary key: rows are (pk, value, value, ...).

    One prepared statement run for every row (executemany), instead of Django's
    bulk_update, which builds a CASE WHEN per field over the whole batch.
    """
    db = connections[DEFAULT_DB_ALIAS]
    meta = model._meta
    chosen = [meta.get_field(name) for name in fields]
    preps = [_prep(f, db) if _needs_prep(f) else None for f in chosen]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in chosen)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(meta.pk.column)} = %s"  # noqa: S608
    prepared = [
        (*[p(v) if p else v for p, v in zip(preps, values, strict=True)], pk)
        for pk, *values in rows
    ]
    if prepared:
        with db.cursor() as cursor:
            cursor.executemany(sql, prepared)


def select_in(
    model: type[models.Model],
    field: str,
    values: Sequence[Any],
    columns: Sequence[str],
    chunk: int = 5000,
) -> list[tuple]:
    """The `columns` of the rows whose `field` is one of `values` (text or numbers),
    in one query per `chunk`: Django's `__in` lookup adapts every value through the
    field first, which costs as much as the query for a batch of ten thousand."""
    db = connections[DEFAULT_DB_ALIAS]
    meta, quote = model._meta, db.ops.quote_name
    wanted = ", ".join(quote(meta.get_field(name).column) for name in columns)
    key = quote(meta.get_field(field).column)
    found: list[tuple] = []
    with db.cursor() as cursor:
        for start in range(0, len(values), chunk):
            part = list(values[start : start + chunk])
            marks = ", ".join(["%s"] * len(part))
            cursor.execute(
                f"SELECT {wanted} FROM {quote(meta.db_table)} WHERE {key} IN ({marks})",  # noqa: S608
                part,
            )
            found.extend(cursor.fetchall())
    return found


# Values of these fields go to either driver as they are; any other field's value
# (dates, JSON, decimals, UUIDs, ...) goes through the field's own adaptation.
_AS_IS = {
    "AutoField",
    "BigAutoField",
    "BigIntegerField",
    "BinaryField",
    "BooleanField",
    "CharField",
    "EmailField",
    "FloatField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveBigIntegerField",
    "PositiveIntegerField",
    "PositiveSmallIntegerField",
    "SlugField",
    "SmallIntegerField",
    "TextField",
}


def _needs_prep(field: models.Field) -> bool:
    return field.get_internal_type() not in _AS_IS
